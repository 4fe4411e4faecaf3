"""What each URL of the node reads or changes: the one table the audit layer works from.

Every URL name in the resolver has a row here (the Django admin under /operator/ as one family), and
`tests/hardening/test_audit_completeness.py` fails for a URL without one. `audit.middleware`
looks the answered route up after the view ran and, when the view wrote no entry of its own that
outlived its transaction, writes one from the row:

- a refusal (401, 403, 404, 429, or a redirect to a login page): `access.denied` with the reason
  and the object the URL named;
- another client error: the row's action with outcome `failure`;
- a success of a read: the row's action with the object the URL named or the query, and the
  row's purpose;
- a success of a change the view did not audit: the row's action with outcome `failure`, "no
  change audited" (services audit every change they make, so no entry means nothing was changed).

Views that already audit (case views, lookups, exports ...) keep their specific entries; the row is
then only the safety net. To declare a new URL add one line below, keyed by its URL name:

    "thing-detail": read(Action.THING_VIEW, "thing", "thing_id", purpose=INVESTIGATION),
    "thing-edit": change(Action.THING_UPDATE, "thing", "thing_id"),
    "thing-probe": public("liveness probe: reads no agency's data"),

Reads need the action, the object type, the URL keyword naming the object (or none for a list or
a query) and the purpose recorded for the generic entry (inside a case the case itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from audit.actions import Action


class Kind(StrEnum):
    READ = "read"  # shows data: one entry per request
    CHANGE = "change"  # changes data (a GET on it shows a form: `form` action)
    PUBLIC = "public"  # reads no agency's data; nothing is logged (`why` says so)


# Purposes of the generic read entries (`entry.purpose.code`): the work the route belongs to.
CASE = "case"  # the case named in the URL (`purpose.case_id`)
INVESTIGATION = "investigation"
SUPERVISION = "supervision"
ADMINISTRATION = "administration"
AUDIT = "audit_review"
RETENTION = "retention_review"
OWN_ACCOUNT = "own_account"
EXCHANGE = "exchange"
NODE_OPERATION = "node_operation"


@dataclass(frozen=True)
class Route:
    kind: Kind
    action: Action | None = None
    object_type: str = ""
    object_kwarg: str = ""
    purpose: str = ""
    form: Action | None = None  # what a GET of a change route reads (its form); None: the action
    why: str = ""

    def action_for(self, method: str) -> Action:
        assert self.action is not None
        if method in SAFE_METHODS and self.kind == Kind.CHANGE:
            return self.form or self.action
        return self.action


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def read(action: Action, object_type: str, object_kwarg: str = "", *, purpose: str) -> Route:
    return Route(Kind.READ, action, object_type, object_kwarg, purpose=purpose)


def change(
    action: Action, object_type: str, object_kwarg: str = "", *, form: Action | None = None, purpose: str = ""
) -> Route:
    return Route(Kind.CHANGE, action, object_type, object_kwarg, purpose=purpose, form=form)


def public(why: str) -> Route:
    return Route(Kind.PUBLIC, why=why)


def case_read(action: Action = Action.CASE_VIEW, object_type: str = "case", object_kwarg: str = "case_id") -> Route:
    return read(action, object_type, object_kwarg, purpose=CASE)


def case_change(action: Action, object_type: str = "case", object_kwarg: str = "case_id") -> Route:
    return change(action, object_type, object_kwarg, form=Action.CASE_VIEW, purpose=CASE)


_A = Action
ROUTES: dict[str, Route] = {
    # --- project ------------------------------------------------------------------------------
    "dashboard": read(_A.PAGE_VIEW, "dashboard", purpose=INVESTIGATION),
    "healthz": public("liveness probe: reads no agency's data"),
    "readyz": public("readiness probe: reads no agency's data"),
    # --- sign-in (the views audit each attempt, success and failure, themselves) ------------------
    "login": change(_A.LOGIN, "user", form=_A.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "login-verify": change(_A.LOGIN, "user", form=_A.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "login-enrol": change(_A.MFA_ENROLLED, "user", form=_A.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "logout": change(_A.LOGOUT, "user", purpose=OWN_ACCOUNT),
    # --- users and tokens -----------------------------------------------------------------------
    "users": read(_A.USER_LIST, "user", purpose=ADMINISTRATION),
    "user-create": change(_A.USER_CREATE, "user", form=_A.PAGE_VIEW, purpose=ADMINISTRATION),
    "user-detail": change(_A.USER_UPDATE, "user", "user_id", form=_A.USER_LIST, purpose=ADMINISTRATION),
    "tokens": change(_A.TOKEN_CREATE, "api_token", form=_A.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "token-revoke": change(_A.TOKEN_REVOKE, "api_token", "token_id", purpose=OWN_ACCOUNT),
    "api-me": read(_A.PAGE_VIEW, "user", purpose=OWN_ACCOUNT),
    # --- audit log ------------------------------------------------------------------------------
    "audit-log": read(_A.AUDIT_VIEW, "audit_log", purpose=AUDIT),
    "audit-entry": read(_A.AUDIT_VIEW, "audit_entry", "index", purpose=AUDIT),
    "audit-checkpoint": read(_A.AUDIT_VIEW, "audit_checkpoint", purpose=AUDIT),
    "audit-export": read(_A.AUDIT_EXPORT, "audit_log", purpose=AUDIT),
    "audit-verify": read(_A.AUDIT_VERIFY, "audit_log", purpose=AUDIT),
    "api-audit-checkpoint": read(_A.AUDIT_PROOF, "audit_checkpoint", purpose=AUDIT),
    "api-audit-inclusion": read(_A.AUDIT_PROOF, "audit_proof", purpose=AUDIT),
    "api-audit-consistency": read(_A.AUDIT_PROOF, "audit_proof", purpose=AUDIT),
    "api-audit-entry": read(_A.AUDIT_VIEW, "audit_entry", "index", purpose=AUDIT),
    # --- hash sets ------------------------------------------------------------------------------
    "hashsets": read(_A.HASHSET_VIEW, "hashset", purpose=INVESTIGATION),
    "hashset-create": change(_A.HASHSET_CREATE, "hashset", form=_A.PAGE_VIEW, purpose=INVESTIGATION),
    "hashset-detail": read(_A.HASHSET_VIEW, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-import-upload": change(_A.HASHSET_IMPORT, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-export": read(_A.HASHSET_EXPORT, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-publish": change(_A.HASHSET_PUBLISH, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-import": read(_A.HASHSET_VIEW, "hashset_import", "import_id", purpose=INVESTIGATION),
    "api-hash-lookup": change(_A.HASH_LOOKUP, "hash", purpose=INVESTIGATION),
    "api-hash-match-pdq": change(_A.HASH_MATCH_PDQ, "hash", purpose=INVESTIGATION),
    # the view logs the lookup as a query (count, hits, purpose), not the digest in the clear
    "api-hash-one": read(_A.HASH_LOOKUP, "hash", purpose=INVESTIGATION),
    "api-hashsets": read(_A.HASHSET_VIEW, "hashset", purpose=INVESTIGATION),
    # --- cases ----------------------------------------------------------------------------------
    "cases": read(_A.CASE_LIST, "case_list", purpose=INVESTIGATION),
    "case-create": change(_A.CASE_CREATE, "case", form=_A.PAGE_VIEW, purpose=INVESTIGATION),
    "case-templates": read(_A.PAGE_VIEW, "case_template", purpose=SUPERVISION),
    "case-detail": case_read(),
    "case-edit": case_change(_A.CASE_UPDATE),
    "case-status": case_change(_A.CASE_UPDATE),
    "case-members": case_change(_A.CASE_MEMBER_CHANGE),
    "case-note-create": case_change(_A.NOTE_CREATE),
    "case-note": case_change(_A.NOTE_UPDATE),
    "case-task-create": case_change(_A.TASK_CREATE),
    "case-task": case_change(_A.TASK_UPDATE),
    "case-attachment-create": case_change(_A.ATTACHMENT_ADD),
    "case-attachment": case_read(_A.ATTACHMENT_VIEW),
    "case-identifier-create": case_change(_A.IDENTIFIER_ADD),
    "case-series-link": case_change(_A.CASE_UPDATE),
    "case-triage": case_read(_A.EVIDENCE_VIEW),
    "case-evidence-add": case_change(_A.EVIDENCE_ADD),
    "case-rematch": case_change(_A.EVIDENCE_CLASSIFY),
    "case-evidence-export": case_read(_A.CASE_EXPORT),
    "case-lead-create": case_change(_A.LEAD_CREATE),
    "api-cases": read(_A.CASE_LIST, "case_list", purpose=INVESTIGATION),
    "api-case": case_read(),
    "api-case-status": case_change(_A.CASE_UPDATE),
    "api-case-members": case_read(),
    "api-case-notes": case_change(_A.NOTE_CREATE),
    "api-case-note": case_change(_A.NOTE_UPDATE),
    "api-case-tasks": case_change(_A.TASK_CREATE),
    "api-case-task": case_change(_A.TASK_UPDATE),
    "api-case-evidence": case_change(_A.EVIDENCE_ADD),
    "api-case-classify": case_change(_A.EVIDENCE_CLASSIFY),
    "api-case-deconfliction": case_read(_A.DECONFLICTION_HIT),
    "api-case-identifiers": case_change(_A.IDENTIFIER_ADD),
    "api-case-leads": case_change(_A.LEAD_CREATE),
    # --- leads and shares -----------------------------------------------------------------------
    "leads": read(_A.LEAD_LIST, "lead", purpose=INVESTIGATION),
    "lead-detail": read(_A.LEAD_VIEW, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-clue": change(_A.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-status": change(_A.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-share": change(_A.SHARE_REQUEST, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-attach": change(_A.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "share-queue": read(_A.SHARE_LIST, "share_request", purpose=SUPERVISION),
    "share-decide": change(_A.SHARE_APPROVE, "share_request", "request_id", form=_A.SHARE_LIST, purpose=SUPERVISION),
    "api-leads": read(_A.LEAD_LIST, "lead", purpose=INVESTIGATION),
    "api-lead": read(_A.LEAD_VIEW, "lead", "lead_id", purpose=INVESTIGATION),
    "api-lead-clues": change(_A.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "api-lead-share": change(_A.SHARE_REQUEST, "lead", "lead_id", purpose=INVESTIGATION),
    # --- exchange -------------------------------------------------------------------------------
    "exchange": read(_A.PARTNER_VIEW, "partner", purpose=EXCHANGE),
    "exchange-card": read(_A.PAGE_VIEW, "key_set", purpose=EXCHANGE),
    "exchange-keys-rotate": change(_A.KEY_ROTATE, "key_set", purpose=EXCHANGE),
    "exchange-keys-revoke": change(_A.KEY_REVOKE, "key_set", "key_set_id", purpose=EXCHANGE),
    "exchange-partner-add": change(_A.PARTNER_ADD, "partner", form=_A.PAGE_VIEW, purpose=EXCHANGE),
    "exchange-partner": change(_A.AGREEMENT_CHANGE, "partner", "partner_id", form=_A.PARTNER_VIEW, purpose=EXCHANGE),
    "exchange-approvals": change(_A.SHARE_APPROVE, "share_request", form=_A.SHARE_LIST, purpose=SUPERVISION),
    "exchange-bundles": read(_A.BUNDLE_LIST, "bundle", purpose=EXCHANGE),
    "exchange-bundle-retry": change(_A.BUNDLE_SEND, "bundle", "bundle_pk", purpose=EXCHANGE),
    # the partner-facing API: a partner's node with its token (the views audit what they serve)
    "api-exchange-inbox": change(_A.BUNDLE_RECEIVE, "bundle", purpose=EXCHANGE),
    "api-exchange-feed": read(_A.BUNDLE_PULL, "bundle", purpose=EXCHANGE),
    "api-exchange-bundle": read(_A.BUNDLE_PULL, "bundle", "bundle_id", purpose=EXCHANGE),
    "api-exchange-card": public("an agency's public key card: public by design, partners fetch it by URL"),
    "api-exchange-witness": change(_A.CHECKPOINT_COSIGN, "audit_checkpoint", purpose=EXCHANGE),
    # --- retention ------------------------------------------------------------------------------
    "retention-queue": read(_A.RETENTION_QUEUE_VIEW, "retention_queue", purpose=RETENTION),
    "retention-review": change(_A.RETENTION_REVIEW, "record", purpose=RETENTION),
    "retention-erase": change(_A.RETENTION_ERASE, "record", purpose=RETENTION),
    "retention-rules": change(_A.RETENTION_RULE_CHANGE, "retention_rule", form=_A.RETENTION_VIEW, purpose=RETENTION),
    "retention-rule-delete": change(_A.RETENTION_RULE_CHANGE, "retention_rule", "rule_id", purpose=RETENTION),
    "retention-holds": read(_A.RETENTION_VIEW, "legal_hold", purpose=RETENTION),
    "retention-hold-place": change(_A.LEGAL_HOLD_PLACE, "case", "case_id", form=_A.CASE_VIEW, purpose=CASE),
    "retention-hold-lift": change(_A.LEGAL_HOLD_LIFT, "case", "case_id", form=_A.CASE_VIEW, purpose=CASE),
    "retention-tombstones": read(_A.RETENTION_VIEW, "tombstone", purpose=RETENTION),
    "retention-report": read(_A.RETENTION_REPORT, "retention_report", purpose=AUDIT),
    "api-retention-rules": change(
        _A.RETENTION_RULE_CHANGE, "retention_rule", form=_A.RETENTION_VIEW, purpose=RETENTION
    ),
    "api-retention-rule": change(_A.RETENTION_RULE_CHANGE, "retention_rule", "rule_id", purpose=RETENTION),
    "api-retention-queue": read(_A.RETENTION_QUEUE_VIEW, "retention_queue", purpose=RETENTION),
    "api-retention-reviews": change(_A.RETENTION_REVIEW, "record", purpose=RETENTION),
    "api-retention-erasures": change(_A.RETENTION_ERASE, "record", purpose=RETENTION),
    "api-retention-tombstones": read(_A.RETENTION_VIEW, "tombstone", purpose=RETENTION),
    "api-retention-legal-holds": read(_A.RETENTION_VIEW, "legal_hold", purpose=RETENTION),
    "api-retention-hold": change(_A.LEGAL_HOLD_PLACE, "case", "case_id", purpose=CASE),
    "api-retention-hold-lift": change(_A.LEGAL_HOLD_LIFT, "case", "case_id", purpose=CASE),
    "api-retention-report": read(_A.RETENTION_REPORT, "retention_report", purpose=AUDIT),
    # --- API description ------------------------------------------------------------------------
    "api-schema": public("the OpenAPI description of the API: no agency's data"),
    "api-docs": public("the API's documentation page: no agency's data"),
}

# URL namespaces declared as one family: every URL in them answers to the family's row.
# /operator/ is the Django admin of the node operator; its own audit (operator engineer's
# `*/admin.py`) writes the specific entries, this row the generic read or refusal.
FAMILIES: dict[str, Route] = {
    "admin": change(_A.PAGE_VIEW, "operator", "object_id", purpose=NODE_OPERATION),
}


def route_for(url_name: str | None, namespaces: tuple[str, ...] | list[str] = ()) -> Route | None:
    """The declaration of a resolved URL (its family's for a declared namespace), or None."""
    for namespace in namespaces:
        if namespace in FAMILIES:
            return FAMILIES[namespace]
    return ROUTES.get(url_name or "")
