"""Deconfliction: telling two cases (of any agencies on this node) that they hold the same thing.

When a case gains evidence, a series or a target identifier that another case already holds, one
DeconflictionHit row per (case, other case, kind) is written on each side. A hit shows the other
side's agency and case lead only, never its title, notes or evidence: "agency X has a case holding
this; contact its case lead". Every new or grown hit is audited (DECONFLICTION_HIT) for both
agencies.

Evidence is compared on new material only: items the adding agency's hash sets did not know
(unknown or only near-matched). Widely circulated, already classified material would otherwise
link every case to every other and drown the hits that matter.

Target identifiers are never stored in clear: `identifier_hash` is HMAC-SHA256 of the normalised
value under a key derived from settings.SECRET_KEY (django.utils.crypto.salted_hmac), so equal
identifiers compare equal on this node and the table alone reveals none of them. Rotating
SECRET_KEY makes earlier identifiers unmatchable; re-enter them after a rotation.

Each identifier added answers "does another case hold this?", so identifier deconfliction is an
oracle: `deconfliction_budget_charge` allows each user settings.DECONFLICTION_IDENTIFIERS_PER_DAY
checks in any 24 hours (counted from the identifiers the user added, in the database, so every web
process sees one count), and `deconfliction_usage` shows supervisors who used how much.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from agencies.models import Membership, Role
from agencies.selectors import membership_of
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from cases.models import (
    Case,
    CaseIdentifier,
    CaseSeries,
    DeconflictionHit,
    DeconflictionKind,
    EvidenceItem,
    IdentifierKind,
    MatchState,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME_MAX = 200
BUDGET_WINDOW = timedelta(hours=24)
USAGE_WINDOW = timedelta(days=30)


class DeconflictionBudgetSpent(CasebridgeError):
    status_code = 429
    title = "Deconfliction budget used up"

    def __init__(self, message: str, *, used: int, limit: int, renews_at: datetime) -> None:
        super().__init__(message)
        self.used = used
        self.limit = limit
        self.renews_at = renews_at


def deconfliction_budget_charge(*, user) -> int:
    """Refuse a new identifier check when `user` used the budget in the last 24 hours; returns the
    checks used before this one. Call inside the transaction that adds the identifier: the user's
    membership row is locked, so two concurrent checks of one user are counted one after the other."""
    limit = settings.DECONFLICTION_IDENTIFIERS_PER_DAY
    Membership.objects.select_for_update().filter(user=user).first()
    since = timezone.now() - BUDGET_WINDOW
    recent = CaseIdentifier.objects.filter(added_by=user, added_at__gte=since)
    used = recent.count()
    if used >= limit:
        oldest = recent.order_by("added_at").values_list("added_at", flat=True)[used - limit]
        renews_at = oldest + BUDGET_WINDOW
        raise DeconflictionBudgetSpent(
            f"Deconfliction budget used up: {limit:,} identifiers per 24 hours. The next check is possible "
            f"from {renews_at:%Y-%m-%d %H:%M} UTC. Supervisors see who used deconfliction how often.",
            used=used,
            limit=limit,
            renews_at=renews_at,
        )
    return used


@dataclass(frozen=True)
class DeconflictionUse:
    username: str
    role: str
    last_day: int
    last_30_days: int
    last_check: datetime | None
    limit: int

    @property
    def budget_spent(self) -> bool:
        return self.last_day >= self.limit


def deconfliction_usage(*, user) -> list[DeconflictionUse]:
    """For a supervisor: every user of the agency who checked identifiers in the last 30 days, most
    active first. Counts and times only, never which identifier or case."""
    membership = membership_of(user)
    if membership is None or membership.role != Role.SUPERVISOR:
        raise ForbiddenError("Only a supervisor sees the agency's use of deconfliction.")
    now = timezone.now()
    rows = (
        CaseIdentifier.objects.filter(
            added_by__membership__agency_id=membership.agency_id, added_at__gte=now - USAGE_WINDOW
        )
        .values("added_by__username", "added_by__membership__role")
        .annotate(
            last_day=Count("id", filter=Q(added_at__gte=now - BUDGET_WINDOW)),
            last_30_days=Count("id"),
            last_check=Max("added_at"),
        )
        .order_by("-last_day", "-last_30_days", "added_by__username")
    )
    limit = settings.DECONFLICTION_IDENTIFIERS_PER_DAY
    return [
        DeconflictionUse(
            username=row["added_by__username"],
            role=row["added_by__membership__role"],
            last_day=row["last_day"],
            last_30_days=row["last_30_days"],
            last_check=row["last_check"],
            limit=limit,
        )
        for row in rows
    ]


def identifier_normalise(kind: str, value: str) -> str:
    """The canonical text of an identifier, so that spellings of one identifier hash alike."""
    text = (value or "").strip()
    if not text:
        raise CasebridgeError("The identifier is empty.")
    if kind == IdentifierKind.EMAIL:
        text = text.lower()
        if text.startswith("mailto:"):
            text = text[len("mailto:") :]
        if not _EMAIL.match(text):
            raise CasebridgeError("That is not an e-mail address (name@domain).")
        return text
    if kind == IdentifierKind.PHONE:
        digits = re.sub(r"[^\d+]", "", text)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        plus = digits.startswith("+")
        digits = re.sub(r"\D", "", digits)
        if not 5 <= len(digits) <= 17:
            raise CasebridgeError("A phone number has 5 to 17 digits (punctuation and spaces are ignored).")
        return ("+" if plus else "") + digits
    if kind == IdentifierKind.IP:
        try:
            return ipaddress.ip_address(text.strip("[]")).compressed
        except ValueError:
            raise CasebridgeError("That is not an IPv4 or IPv6 address.") from None
    if kind == IdentifierKind.USERNAME:
        text = text.lstrip("@").casefold()
        if not text or len(text) > _USERNAME_MAX:
            raise CasebridgeError(f"A user name has 1 to {_USERNAME_MAX} characters.")
        return text
    raise CasebridgeError(f"Unknown identifier kind {kind!r}; use one of: {', '.join(IdentifierKind.values)}.")


def identifier_hash(kind: str, value: str) -> bytes:
    """HMAC-SHA256 of the normalised identifier under a key derived from SECRET_KEY (per kind)."""
    normal = identifier_normalise(kind, value)
    return salted_hmac(
        f"casebridge.cases.identifier.{kind}", normal, secret=settings.SECRET_KEY, algorithm="sha256"
    ).digest()


def _record_hits(*, case: Case, counts: Counter, kind: str, user=None) -> list[DeconflictionHit]:
    """Write (or grow) the hit on both sides for every other case in `counts`, and audit each."""
    if not counts:
        return []
    now = timezone.now()
    others = {c.pk: c for c in Case.objects.select_related("agency").filter(pk__in=counts)}
    written = []
    for other_id, count in sorted(counts.items()):
        other = others[other_id]
        for here, there, actor in (
            (case, other, actor_for_user(user) if user else SYSTEM_ACTOR),
            (other, case, SYSTEM_ACTOR),
        ):
            hit, created = DeconflictionHit.objects.get_or_create(
                case=here,
                other_case=there,
                kind=kind,
                defaults={"count": count, "first_seen_at": now, "last_seen_at": now},
            )
            if not created:
                DeconflictionHit.objects.filter(pk=hit.pk).update(count=F("count") + count, last_seen_at=now)
            audit_record(
                action=Action.DECONFLICTION_HIT,
                actor=actor,
                agency=here.agency.code,
                object_type="case",
                object_id=here.pk,
                details={
                    "case": here.reference,
                    "hit": hit.pk,
                    "kind": kind,
                    "count": count,
                    "other_agency": there.agency.code,
                    "new": created,
                },
                purpose={"code": "deconfliction"},
            )
            if here is case:
                written.append(hit)
    return written


def deconflict_evidence(*, case: Case, items: Iterable[EvidenceItem], user=None) -> list[DeconflictionHit]:
    """Hits for new material of `case` (unknown or near-matched items) that other cases also hold."""
    new = [i for i in items if i.match_state != MatchState.KNOWN]
    counts: Counter = Counter()
    seen_pairs: set[tuple[int, int]] = set()  # (other item, this item) counted once across digests
    for algorithm in ("sha256", "sha1", "md5"):
        by_digest = {bytes(getattr(i, algorithm)): i.pk for i in new if getattr(i, algorithm) is not None}
        if not by_digest:
            continue
        rows = (
            EvidenceItem.objects.filter(**{f"{algorithm}__in": list(by_digest)})
            .exclude(case_id=case.pk)
            .values_list("pk", "case_id", algorithm)
        )
        for other_pk, other_case_id, digest in rows:
            pair = (other_pk, by_digest[bytes(digest)])
            if pair not in seen_pairs:
                seen_pairs.add(pair)
                counts[other_case_id] += 1
    return _record_hits(case=case, counts=counts, kind=DeconflictionKind.EVIDENCE, user=user)


def deconflict_series(*, case: Case, series_ids: list[int], user=None) -> list[DeconflictionHit]:
    rows = (
        CaseSeries.objects.filter(series_id__in=series_ids)
        .exclude(case_id=case.pk)
        .values("case_id")
        .annotate(n=Count("id"))
    )
    counts = Counter({row["case_id"]: row["n"] for row in rows})
    return _record_hits(case=case, counts=counts, kind=DeconflictionKind.SERIES, user=user)


def deconflict_identifiers(*, case: Case, identifiers: list[CaseIdentifier], user=None) -> list[DeconflictionHit]:
    counts: Counter = Counter()
    for kind in {i.kind for i in identifiers}:
        hashes = [bytes(i.keyed_hash) for i in identifiers if i.kind == kind]
        rows = (
            CaseIdentifier.objects.filter(kind=kind, keyed_hash__in=hashes)
            .exclude(case_id=case.pk)
            .values("case_id")
            .annotate(n=Count("id"))
        )
        for row in rows:
            counts[row["case_id"]] += row["n"]
    return _record_hits(case=case, counts=counts, kind=DeconflictionKind.IDENTIFIER, user=user)
