"""Writes of the cases app (split by subject; each function one audited transaction).

Import from here: `from cases import services; services.case_create(...)`.
"""

from __future__ import annotations

from cases.services.cases import (
    access_denied_record,
    case_create,
    case_list_record,
    case_member_remove,
    case_member_set,
    case_series_link,
    case_status_change,
    case_template_create,
    case_update,
    case_view_record,
)
from cases.services.content import (
    attachment_add,
    attachment_download_record,
    note_create,
    note_update,
    task_create,
    task_update,
)
from cases.services.evidence import (
    EvidenceAddResult,
    ParsedEvidence,
    UndoResult,
    case_classification_set,
    classification_bulk_undo,
    evidence_add,
    evidence_classify,
    evidence_export_record,
    evidence_match,
    evidence_parse_file,
    evidence_parse_pasted,
    evidence_rematch,
    evidence_view_record,
)
from cases.services.leads import (
    deconfliction_usage_record,
    identifier_add,
    lead_clue_add,
    lead_create,
    lead_list_record,
    lead_update,
    lead_view_record,
    share_queue_view_record,
)

__all__ = [
    "EvidenceAddResult",
    "ParsedEvidence",
    "UndoResult",
    "access_denied_record",
    "attachment_add",
    "attachment_download_record",
    "case_classification_set",
    "case_create",
    "case_list_record",
    "case_member_remove",
    "case_member_set",
    "case_series_link",
    "case_status_change",
    "case_template_create",
    "case_update",
    "case_view_record",
    "classification_bulk_undo",
    "deconfliction_usage_record",
    "evidence_add",
    "evidence_classify",
    "evidence_export_record",
    "evidence_match",
    "evidence_parse_file",
    "evidence_parse_pasted",
    "evidence_rematch",
    "evidence_view_record",
    "identifier_add",
    "lead_clue_add",
    "lead_create",
    "lead_list_record",
    "lead_update",
    "lead_view_record",
    "note_create",
    "note_update",
    "share_queue_view_record",
    "task_create",
    "task_update",
]
