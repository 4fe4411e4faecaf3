"""Web UI of cases, evidence triage and leads (server-rendered; no inline script or style)."""

from __future__ import annotations

from cases.views.case_pages import (
    attachment_create_view,
    attachment_download_view,
    case_create_view,
    case_detail_view,
    case_edit_view,
    case_list_view,
    case_member_view,
    case_status_view,
    identifier_create_view,
    note_create_view,
    note_edit_view,
    series_link_view,
    task_create_view,
    task_detail_view,
    template_list_view,
)
from cases.views.evidence_pages import evidence_add_view, evidence_export_view, rematch_view, triage_view
from cases.views.lead_pages import (
    deconfliction_usage_view,
    lead_attach_view,
    lead_clue_view,
    lead_create_view,
    lead_detail_view,
    lead_list_view,
    lead_share_view,
    lead_status_view,
    share_decide_view,
    share_queue_view,
)

__all__ = [
    "attachment_create_view", "attachment_download_view", "case_create_view", "case_detail_view", "case_edit_view",
    "case_list_view", "case_member_view", "case_status_view", "deconfliction_usage_view", "evidence_add_view",
    "evidence_export_view",
    "identifier_create_view", "lead_attach_view", "lead_clue_view", "lead_create_view", "lead_detail_view",
    "lead_list_view", "lead_share_view", "lead_status_view", "note_create_view", "note_edit_view", "rematch_view",
    "series_link_view", "share_decide_view", "share_queue_view", "task_create_view", "task_detail_view",
    "template_list_view", "triage_view",
]  # fmt: skip
