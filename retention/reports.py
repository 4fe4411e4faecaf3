"""The auditors' report: consultations and disclosures by purpose, user, agency and recipient over
a period, and the reviews, erasures and legal holds done in it, with what is overdue now.

Built from the audit log itself (integrated entries of the auditor's agency), so every number can
be traced to the entries it counts; a `bundle.send` counts as a disclosure only once the outbox
says its bundle was delivered (see DISCLOSURE_ACTIONS). Exported as CSV (cells that a spreadsheet would run as a
formula are neutralised) and as a printable HTML page.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from agencies.models import Agency
from audit.actions import Action
from audit.models import AuditEntry
from exchange.models import Bundle
from retention import selectors

# Reads of data: what was looked at, searched or listed.
CONSULTATION_ACTIONS = (
    Action.CASE_VIEW,
    Action.CASE_LIST,
    Action.CASE_SEARCH,
    Action.EVIDENCE_VIEW,
    Action.LEAD_VIEW,
    Action.LEAD_LIST,
    Action.ATTACHMENT_VIEW,
    Action.HASHSET_VIEW,
    Action.HASH_LOOKUP,
    Action.HASH_MATCH_PDQ,
    Action.AUDIT_VIEW,
    Action.RETENTION_QUEUE_VIEW,
    Action.RETENTION_REPORT,
)
# Data leaving the agency's database. A disclosure to a partner is a bundle that left the node:
# counted once per bundle and recipient, from the `bundle.send` entry of an outgoing bundle that
# was delivered (delivered or applied on the recipient's side) or from the partner's `bundle.pull`
# of it, whichever comes first. A share request or approval is a decision, not a disclosure: a
# refused or still pending one sent nothing, and an approved one is counted by its bundles.
# Exports are files taken out of the database by the agency's own users (no recipient).
BUNDLE_DISCLOSURE_ACTIONS = (Action.BUNDLE_SEND, Action.BUNDLE_PULL)
DISCLOSURE_ACTIONS = (
    Action.CASE_EXPORT,
    Action.HASHSET_EXPORT,
    Action.AUDIT_EXPORT,
    *BUNDLE_DISCLOSURE_ACTIONS,
)
# Partner nodes' machine access to this agency's inbox, under a sharing agreement.
PARTNER_ACTIONS = (Action.BUNDLE_RECEIVE, Action.BUNDLE_APPLY)
RETENTION_ACTIONS = (
    Action.RETENTION_REVIEW,
    Action.RETENTION_ERASE,
    Action.LEGAL_HOLD_PLACE,
    Action.LEGAL_HOLD_LIFT,
)
CATEGORY = {
    **{str(a.value): "consultation" for a in CONSULTATION_ACTIONS},
    **{str(a.value): "disclosure" for a in DISCLOSURE_ACTIONS},
    **{str(a.value): "partner access" for a in PARTNER_ACTIONS},
}


@dataclass(frozen=True)
class AccessRow:
    category: str
    action: str
    purpose: str
    purpose_case: str
    actor: str
    agency: str
    recipients: str
    count: int
    first: str
    last: str


@dataclass
class PurposeReport:
    agency: str
    time_from: datetime
    time_to: datetime
    generated_at: datetime
    rows: list[AccessRow] = field(default_factory=list)
    by_purpose: list[tuple[str, int, int, int]] = field(default_factory=list)
    by_user: list[tuple[str, int, int, int]] = field(default_factory=list)
    by_agency: list[tuple[str, int, int, int]] = field(default_factory=list)
    by_recipient: list[tuple[str, int]] = field(default_factory=list)
    without_purpose: int = 0
    entries: int = 0
    reviews: list[tuple[str, str, str, int]] = field(default_factory=list)
    erasures: list[tuple[str, str, int]] = field(default_factory=list)
    erasures_refused: int = 0
    holds_placed: int = 0
    holds_lifted: int = 0
    overdue: dict[str, dict[str, int]] = field(default_factory=dict)


def _actor_name(actor: dict) -> str:
    if actor.get("type") == "user":
        return actor.get("name", "")
    return f"{actor.get('type', '')}:{actor.get('name') or actor.get('id', '')}"


def _by(counts: dict[str, Counter]) -> list[tuple[str, int, int, int]]:
    return sorted(
        ((key, c["consultation"], c["disclosure"], c["partner access"]) for key, c in counts.items()),
        key=lambda row: (-(row[1] + row[2] + row[3]), row[0]),
    )


_BUNDLE_DISCLOSURES = {str(a.value) for a in BUNDLE_DISCLOSURE_ACTIONS}
_LEFT_THE_NODE = (Bundle.State.DELIVERED, Bundle.State.APPLIED)


def _delivered_bundles(*, agency: Agency, entries) -> set[tuple[str, str]]:
    """(bundle id, recipient) of the agency's outgoing bundles named by `bundle.send` entries among
    `entries` that were delivered: what the report counts as having left the node."""
    ids = set()
    for object_id in entries.filter(action=Action.BUNDLE_SEND.value).values_list("object_id", flat=True):
        try:
            ids.add(uuid.UUID(object_id))
        except ValueError:
            continue  # not a bundle id: nothing of ours was delivered under it
    rows = Bundle.objects.filter(
        direction=Bundle.Direction.OUT, sender_code=agency.code, bundle_id__in=ids, state__in=_LEFT_THE_NODE
    ).values_list("bundle_id", "recipient_code")
    return {(str(bundle_id), recipient) for bundle_id, recipient in rows}


def report_build(
    *, agency: Agency, time_from: datetime, time_to: datetime, now: datetime | None = None
) -> PurposeReport:
    """Summarise the agency's audit entries in [time_from, time_to) (plus what is overdue at `now`)."""
    now = now or timezone.now()
    report = PurposeReport(agency=agency.code, time_from=time_from, time_to=time_to, generated_at=now)
    actions = [str(a) for a in (*CATEGORY, *(a.value for a in RETENTION_ACTIONS))]
    entries = AuditEntry.objects.filter(
        agency_code=agency.code, time__gte=time_from, time__lt=time_to, action__in=actions
    ).order_by("index")
    groups: dict[tuple, list] = {}
    by_purpose: dict[str, Counter] = defaultdict(Counter)
    by_user: dict[str, Counter] = defaultdict(Counter)
    by_agency: dict[str, Counter] = defaultdict(Counter)
    by_recipient: Counter = Counter()
    reviews: Counter = Counter()
    erasures: Counter = Counter()
    delivered = _delivered_bundles(agency=agency, entries=entries)
    disclosed: set[tuple[str, str]] = set()
    for canonical in entries.values_list("canonical", flat=True).iterator(chunk_size=2000):
        entry = json.loads(canonical)
        action, outcome = entry["action"], entry["outcome"]
        details = entry.get("details") or {}
        if action in _BUNDLE_DISCLOSURES:
            # One per bundle and recipient, and only once it left the node (see DISCLOSURE_ACTIONS).
            bundle = (str(entry["object"]["id"]), ", ".join(sorted(entry.get("recipients") or [])))
            left = action == Action.BUNDLE_PULL or bundle in delivered
            if outcome != "success" or not left or bundle in disclosed:
                continue
            disclosed.add(bundle)
        if action == Action.RETENTION_REVIEW:
            if outcome == "success":
                reviews[(details.get("kind", ""), details.get("decision", ""), _actor_name(entry["actor"]))] += 1
            continue
        if action == Action.RETENTION_ERASE:
            if outcome == "success":
                erasures[(details.get("kind", ""), "manual" if entry["actor"]["type"] == "user" else "sweep")] += 1
            else:
                report.erasures_refused += 1
            continue
        if action == Action.LEGAL_HOLD_PLACE:
            report.holds_placed += 1
            continue
        if action == Action.LEGAL_HOLD_LIFT:
            report.holds_lifted += 1
            continue
        report.entries += 1
        category = CATEGORY[action]
        purpose = entry.get("purpose") or {}
        code = purpose.get("code", "")
        if not code:
            report.without_purpose += 1
        actor = _actor_name(entry["actor"])
        recipients = sorted(entry.get("recipients") or [])
        key = (category, action, code, purpose.get("case", ""), actor, entry["agency"], ", ".join(recipients))
        group = groups.setdefault(key, [0, entry["time"], entry["time"]])
        group[0] += 1
        group[2] = entry["time"]
        by_purpose[code or "(none)"][category] += 1
        by_user[actor][category] += 1
        by_agency[entry["agency"] or "(node)"][category] += 1
        for recipient in recipients:
            by_recipient[recipient] += 1
    report.rows = [AccessRow(*key, *group) for key, group in sorted(groups.items(), key=lambda kv: kv[0])]
    report.by_purpose = _by(by_purpose)
    report.by_user = _by(by_user)
    report.by_agency = _by(by_agency)
    report.by_recipient = sorted(by_recipient.items(), key=lambda kv: (-kv[1], kv[0]))
    report.reviews = sorted((kind, decision, user, n) for (kind, decision, user), n in reviews.items())
    report.erasures = sorted((kind, via, n) for (kind, via), n in erasures.items())
    report.overdue = selectors.overdue_counts(agency=agency, now=now)
    return report


# --- CSV ----------------------------------------------------------------------------------------

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_csv(report: PurposeReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def block(header: list[str], rows) -> None:
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])
        writer.writerow([])

    block(
        ["report", "agency", "from", "to", "generated", "entries", "without purpose"],
        [["purpose and retention", report.agency, report.time_from.isoformat(), report.time_to.isoformat(),
          report.generated_at.isoformat(), report.entries, report.without_purpose]],
    )  # fmt: skip
    block(
        ["section", "category", "action", "purpose", "case", "user", "agency", "recipients", "count", "first", "last"],
        (["access", *(getattr(r, name) for name in AccessRow.__dataclass_fields__)] for r in report.rows),
    )
    for name, rows in (("by purpose", report.by_purpose), ("by user", report.by_user), ("by agency", report.by_agency)):
        block(["section", name.split(" ", 1)[1], "consultations", "disclosures", "partner access"],
              ([name, *row] for row in rows))  # fmt: skip
    block(["section", "recipient", "disclosures"], (["by recipient", *row] for row in report.by_recipient))
    block(["section", "kind", "decision", "user", "count"], (["reviews", *row] for row in report.reviews))
    block(["section", "kind", "by", "count"], (["erasures", *row] for row in report.erasures))
    block(
        ["section", "what", "kind", "count"],
        [
            *(["overdue", "review", kind, n] for kind, n in sorted(report.overdue.get("review", {}).items())),
            *(["overdue", "erasure", kind, n] for kind, n in sorted(report.overdue.get("erasure", {}).items())),
            ["legal holds", "placed", "case", report.holds_placed],
            ["legal holds", "lifted", "case", report.holds_lifted],
            ["legal holds", "active now", "case", report.overdue.get("held", {}).get("case", 0)],
            ["erasures", "refused", "", report.erasures_refused],
        ],
    )
    return out.getvalue()
