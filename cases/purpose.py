"""The declared purpose recorded with every read of case data, search, export and share.

Inside a case the purpose is that case, without an extra click: `{"code": "case", "case": <ref>}`.
Searches and lists outside a case carry one code of a small fixed list (default "investigation"),
chosen in the search form, optionally naming a case the user works on; free text goes to the audit
entry only as a salted commitment (`sensitive={"purpose_text": ...}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError

PURPOSE_CODES: dict[str, str] = {
    "investigation": "Investigation",
    "victim_identification": "Victim identification",
    "deconfliction": "Deconfliction",
    "supervision": "Supervision",
    "quality_review": "Quality review",
}
DEFAULT_PURPOSE = "investigation"
CASE_PURPOSE = "case"
PURPOSE_TEXT_MAX = 500


@dataclass(frozen=True)
class Purpose:
    """What goes into the audit entry: `audit` as `purpose=`, `sensitive` merged into `sensitive=`."""

    audit: dict[str, str]
    sensitive: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.audit["code"]


def purpose_of_case(case) -> Purpose:
    return Purpose(audit={"code": CASE_PURPOSE, "case": case.reference})


def purpose_resolve(*, user, code: str = "", case_reference: str = "", text: str = "") -> Purpose:
    """The purpose a user declared for work outside a case; refuses an unknown code or a case the
    user may not work on (named in the message), and audits that refusal."""
    from cases.selectors import case_context_by_reference  # selectors import this module

    code = (code or "").strip() or DEFAULT_PURPOSE
    case_reference = (case_reference or "").strip()
    text = (text or "").strip()
    if len(text) > PURPOSE_TEXT_MAX:
        raise CasebridgeError(f"The purpose text is too long: at most {PURPOSE_TEXT_MAX} characters.")
    sensitive = {"purpose_text": text} if text else {}
    if case_reference or code == CASE_PURPOSE:
        if not case_reference:
            raise CasebridgeError("Name the case this work is for (its reference, e.g. NSP-2026-0001).")
        context = case_context_by_reference(user=user, reference=case_reference)
        if context is None or not context.can_read:
            audit_record(
                action=Action.ACCESS_DENIED,
                actor=actor_for_user(user),
                outcome=Outcome.DENIED,
                object_type="purpose",
                object_id=case_reference[:64],
                reason="purpose names a case the user is not a member of",
            )
            raise CasebridgeError(
                f"You are not a member of case {case_reference}, so it cannot be the purpose of this search. "
                "Choose a case you work on, or another purpose."
            )
        return Purpose(audit={"code": CASE_PURPOSE, "case": context.case.reference}, sensitive=sensitive)
    if code not in PURPOSE_CODES:
        raise CasebridgeError(f"Unknown purpose {code!r}; choose one of: {', '.join(PURPOSE_CODES)}.")
    return Purpose(audit={"code": code}, sensitive=sensitive)


def purpose_from(*, user, values, default: str = DEFAULT_PURPOSE) -> Purpose:
    """`purpose_resolve` with the `purpose`, `purpose_case` and `purpose_text` fields of a form,
    query string or request body (`values`: any mapping), `default` when no code is given."""
    return purpose_resolve(
        user=user,
        code=str(values.get("purpose") or default),
        case_reference=str(values.get("purpose_case") or ""),
        text=str(values.get("purpose_text") or ""),
    )
