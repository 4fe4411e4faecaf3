"""The kinds of record a retention rule can govern, and where each kind's records live.

Each kind says which rows belong to an agency, what its "last change" (the anchor the rule's days
count from) is, which case it hangs off (legal hold, the case lead's review queue), and how it is
named in lists and in the audit log. Adding a kind means adding one `KindSource` here and its
erasure in `retention.erasure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from agencies.models import Agency
from cases.models import Case, CaseStatus, EvidenceItem, Lead, LeadStatus
from exchange.models import Bundle
from hashsets.models import Classification
from retention.models import RecordKind, Tombstone


def _not_erased(kind: str):
    # Bundle rows outlive their erasure (stripped of content; the ids guard against replays).
    return ~Exists(Tombstone.objects.filter(kind=kind, object_id=OuterRef("pk")))


@dataclass(frozen=True)
class KindSource:
    kind: str
    records: Callable[[Agency], QuerySet]  # the agency's records, annotated with `anchor`
    statuses: tuple[str, ...] = ()  # statuses a rule may name ("" always allowed)
    status_field: str = ""
    case_field: str = ""  # ORM path to the owning case's id, "" when the kind has none
    case_lead_field: str = ""  # ORM path to that case's lead (the investigator who reviews it)
    values: dict[str, str] = field(default_factory=dict)  # DueRecord field -> ORM path
    audit_object_type: str = ""
    audit_object_id_field: str = "pk"

    @property
    def label(self) -> str:
        return RecordKind(self.kind).label


KINDS: dict[str, KindSource] = {
    RecordKind.CASE: KindSource(
        kind=RecordKind.CASE,
        records=lambda agency: Case.objects.filter(agency=agency).annotate(anchor=F("updated_at")),
        statuses=tuple(CaseStatus.values),
        status_field="status",
        case_field="pk",
        case_lead_field="lead_id",
        values={"case_id": "pk", "case_reference": "reference", "status": "status"},
        audit_object_type="case",
    ),
    RecordKind.LEAD: KindSource(
        kind=RecordKind.LEAD,
        records=lambda agency: Lead.objects.filter(agency=agency).annotate(anchor=F("updated_at")),
        statuses=tuple(LeadStatus.values),
        status_field="status",
        case_field="case_id",
        case_lead_field="case__lead_id",
        values={"case_id": "case_id", "case_reference": "case__reference", "status": "status"},
        audit_object_type="lead",
    ),
    RecordKind.EVIDENCE: KindSource(
        kind=RecordKind.EVIDENCE,
        records=lambda agency: EvidenceItem.objects.filter(case__agency=agency).annotate(
            anchor=Coalesce("matched_at", "added_at")
        ),
        case_field="case_id",
        case_lead_field="case__lead_id",
        values={"case_id": "case_id", "case_reference": "case__reference", "status": "match_state"},
        audit_object_type="evidence",
    ),
    RecordKind.CLASSIFICATION: KindSource(
        kind=RecordKind.CLASSIFICATION,
        records=lambda agency: Classification.objects.filter(hashset__owner=agency).annotate(
            anchor=Coalesce("retracted_at", "updated_at")
        ),
        values={"context": "hashset__name", "status": "category"},
        audit_object_type="classification",
    ),
    RecordKind.BUNDLE_RECEIVED: KindSource(
        kind=RecordKind.BUNDLE_RECEIVED,
        records=lambda agency: (
            Bundle.objects.filter(direction=Bundle.Direction.IN, recipient_code=agency.code, state=Bundle.State.APPLIED)
            .filter(_not_erased(RecordKind.BUNDLE_RECEIVED))
            .annotate(anchor=Coalesce("applied_at", "delivered_at", "created_at"))
        ),
        values={"context": "sender_code", "status": "kind"},
        audit_object_type="bundle",
        audit_object_id_field="bundle_id",
    ),
    RecordKind.BUNDLE_QUARANTINED: KindSource(
        kind=RecordKind.BUNDLE_QUARANTINED,
        records=lambda agency: (
            Bundle.objects.filter(
                direction=Bundle.Direction.IN, recipient_code=agency.code, state=Bundle.State.QUARANTINED
            )
            .filter(_not_erased(RecordKind.BUNDLE_QUARANTINED))
            .annotate(anchor=F("created_at"))
        ),
        values={"context": "sender_code", "status": "reject_code"},
        audit_object_type="bundle",
        audit_object_id_field="bundle_id",
    ),
}

# Erasure order in the sweep: a case first, so what hangs off it goes with it (one tombstone).
SWEEP_ORDER = [
    RecordKind.CASE,
    RecordKind.LEAD,
    RecordKind.EVIDENCE,
    RecordKind.CLASSIFICATION,
    RecordKind.BUNDLE_RECEIVED,
    RecordKind.BUNDLE_QUARANTINED,
]


def kind_get(kind: str) -> KindSource:
    from casebridge.errors import CasebridgeError

    source = KINDS.get(kind)
    if source is None:
        raise CasebridgeError(f"Unknown kind of record {kind!r}; use one of: {', '.join(KINDS)}.")
    return source
