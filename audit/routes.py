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
    # A sign-in form whose view audits every attempt itself, anonymous failures within a budget per
    # source address (L5): a POST it left unlogged was counted into that source's summary entry,
    # and a generic entry here (or one per GET of the form, which shows no one's data) would undo
    # the budget.
    budgeted: bool = False

    def action_for(self, method: str) -> Action:
        if self.action is None:
            raise ValueError("a public route writes no entry, so it has no action")
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


def signin(action: Action) -> Route:
    return Route(Kind.CHANGE, action, "user", purpose=OWN_ACCOUNT, form=Action.PAGE_VIEW, budgeted=True)


def public(why: str) -> Route:
    return Route(Kind.PUBLIC, why=why)


def case_read(action: Action = Action.CASE_VIEW, object_type: str = "case", object_kwarg: str = "case_id") -> Route:
    return read(action, object_type, object_kwarg, purpose=CASE)


def case_change(action: Action, object_type: str = "case", object_kwarg: str = "case_id") -> Route:
    return change(action, object_type, object_kwarg, form=Action.CASE_VIEW, purpose=CASE)


ROUTES: dict[str, Route] = {
    # --- project ------------------------------------------------------------------------------
    "dashboard": read(Action.PAGE_VIEW, "dashboard", purpose=INVESTIGATION),
    "healthz": public("liveness probe: reads no agency's data"),
    "readyz": public("readiness probe: reads no agency's data"),
    # --- sign-in (the views audit each attempt, success and failure, themselves) ------------------
    "login": signin(Action.LOGIN),
    "login-verify": change(Action.LOGIN, "user", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "login-enrol": change(Action.MFA_ENROLLED, "user", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "logout": change(Action.LOGOUT, "user", purpose=OWN_ACCOUNT),
    "login-recover": change(Action.LOGIN, "user", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    # the enrolment token in the URL is a secret: never the entry's object id
    "enrol": change(Action.MFA_ENROLLED, "user", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "account": change(Action.USER_UPDATE, "user", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    # --- users and tokens -----------------------------------------------------------------------
    "users": read(Action.USER_LIST, "user", purpose=ADMINISTRATION),
    "user-create": change(Action.USER_CREATE, "user", form=Action.PAGE_VIEW, purpose=ADMINISTRATION),
    "user-detail": change(Action.USER_UPDATE, "user", "user_id", form=Action.USER_LIST, purpose=ADMINISTRATION),
    "tokens": change(Action.TOKEN_CREATE, "api_token", form=Action.PAGE_VIEW, purpose=OWN_ACCOUNT),
    "token-revoke": change(Action.TOKEN_REVOKE, "api_token", "token_id", purpose=OWN_ACCOUNT),
    "api-me": read(Action.PAGE_VIEW, "user", purpose=OWN_ACCOUNT),
    # --- audit log ------------------------------------------------------------------------------
    "audit-log": read(Action.AUDIT_VIEW, "audit_log", purpose=AUDIT),
    "audit-entry": read(Action.AUDIT_VIEW, "audit_entry", "index", purpose=AUDIT),
    "audit-checkpoint": read(Action.AUDIT_VIEW, "audit_checkpoint", purpose=AUDIT),
    "audit-export": read(Action.AUDIT_EXPORT, "audit_log", purpose=AUDIT),
    "audit-verify": read(Action.AUDIT_VERIFY, "audit_log", purpose=AUDIT),
    "api-audit-checkpoint": read(Action.AUDIT_PROOF, "audit_checkpoint", purpose=AUDIT),
    "api-audit-inclusion": read(Action.AUDIT_PROOF, "audit_proof", purpose=AUDIT),
    "api-audit-consistency": read(Action.AUDIT_PROOF, "audit_proof", purpose=AUDIT),
    "api-audit-entry": read(Action.AUDIT_VIEW, "audit_entry", "index", purpose=AUDIT),
    # --- hash sets ------------------------------------------------------------------------------
    "hashsets": read(Action.HASHSET_VIEW, "hashset", purpose=INVESTIGATION),
    "hashset-create": change(Action.HASHSET_CREATE, "hashset", form=Action.PAGE_VIEW, purpose=INVESTIGATION),
    "hashset-detail": read(Action.HASHSET_VIEW, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-import-upload": change(Action.HASHSET_IMPORT, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-export": read(Action.HASHSET_EXPORT, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-publish": change(Action.SHARE_REQUEST, "hashset", "hashset_id", purpose=INVESTIGATION),
    "hashset-import": read(Action.HASHSET_VIEW, "hashset_import", "import_id", purpose=INVESTIGATION),
    "api-hash-lookup": change(Action.HASH_LOOKUP, "hash", purpose=INVESTIGATION),
    "api-hash-match-pdq": change(Action.HASH_MATCH_PDQ, "hash", purpose=INVESTIGATION),
    # the view logs the lookup as a query (count, hits, purpose), not the digest in the clear
    "api-hash-one": read(Action.HASH_LOOKUP, "hash", purpose=INVESTIGATION),
    "api-hashsets": read(Action.HASHSET_VIEW, "hashset", purpose=INVESTIGATION),
    # --- cases ----------------------------------------------------------------------------------
    "cases": read(Action.CASE_LIST, "case_list", purpose=INVESTIGATION),
    "case-create": change(Action.CASE_CREATE, "case", form=Action.PAGE_VIEW, purpose=INVESTIGATION),
    "case-templates": read(Action.PAGE_VIEW, "case_template", purpose=SUPERVISION),
    "case-detail": case_read(),
    "case-edit": case_change(Action.CASE_UPDATE),
    "case-status": case_change(Action.CASE_UPDATE),
    "case-members": case_change(Action.CASE_MEMBER_CHANGE),
    "case-note-create": case_change(Action.NOTE_CREATE),
    "case-note": case_change(Action.NOTE_UPDATE),
    "case-task-create": case_change(Action.TASK_CREATE),
    "case-task": case_change(Action.TASK_UPDATE),
    "case-attachment-create": case_change(Action.ATTACHMENT_ADD),
    "case-attachment": case_read(Action.ATTACHMENT_VIEW),
    "case-identifier-create": case_change(Action.IDENTIFIER_ADD),
    "case-series-link": case_change(Action.CASE_UPDATE),
    "case-triage": case_read(Action.EVIDENCE_VIEW),
    "case-evidence-add": case_change(Action.EVIDENCE_ADD),
    "case-rematch": case_change(Action.EVIDENCE_CLASSIFY),
    "case-classify-undo": case_change(Action.EVIDENCE_CLASSIFY_UNDO),
    "case-evidence-export": case_read(Action.CASE_EXPORT),
    "case-lead-create": case_change(Action.LEAD_CREATE),
    "api-cases": read(Action.CASE_LIST, "case_list", purpose=INVESTIGATION),
    "api-case": case_read(),
    "api-case-status": case_change(Action.CASE_UPDATE),
    "api-case-members": case_read(),
    "api-case-notes": case_change(Action.NOTE_CREATE),
    "api-case-note": case_change(Action.NOTE_UPDATE),
    "api-case-tasks": case_change(Action.TASK_CREATE),
    "api-case-task": case_change(Action.TASK_UPDATE),
    "api-case-evidence": case_change(Action.EVIDENCE_ADD),
    "api-case-classify": case_change(Action.EVIDENCE_CLASSIFY),
    "api-case-deconfliction": case_read(Action.DECONFLICTION_HIT),
    "api-case-identifiers": case_change(Action.IDENTIFIER_ADD),
    "api-case-leads": case_change(Action.LEAD_CREATE),
    # --- leads and shares -----------------------------------------------------------------------
    "leads": read(Action.LEAD_LIST, "lead", purpose=INVESTIGATION),
    "lead-detail": read(Action.LEAD_VIEW, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-clue": change(Action.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-status": change(Action.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-share": change(Action.SHARE_REQUEST, "lead", "lead_id", purpose=INVESTIGATION),
    "lead-attach": change(Action.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "share-queue": read(Action.SHARE_LIST, "share_request", purpose=SUPERVISION),
    "deconfliction-usage": read(Action.DECONFLICTION_USAGE_VIEW, "deconfliction_usage", purpose=SUPERVISION),
    "share-decide": change(
        Action.SHARE_APPROVE, "share_request", "request_id", form=Action.SHARE_LIST, purpose=SUPERVISION
    ),
    "api-leads": read(Action.LEAD_LIST, "lead", purpose=INVESTIGATION),
    "api-lead": read(Action.LEAD_VIEW, "lead", "lead_id", purpose=INVESTIGATION),
    "api-lead-clues": change(Action.LEAD_UPDATE, "lead", "lead_id", purpose=INVESTIGATION),
    "api-lead-share": change(Action.SHARE_REQUEST, "lead", "lead_id", purpose=INVESTIGATION),
    # --- exchange -------------------------------------------------------------------------------
    "exchange": read(Action.PARTNER_VIEW, "partner", purpose=EXCHANGE),
    "exchange-card": read(Action.PAGE_VIEW, "key_set", purpose=EXCHANGE),
    "exchange-keys-rotate": change(Action.KEY_ROTATE, "key_set", purpose=EXCHANGE),
    "exchange-keys-revoke": change(Action.KEY_REVOKE, "key_set", "key_set_id", purpose=EXCHANGE),
    "exchange-partner-add": change(Action.PARTNER_ADD, "partner", form=Action.PAGE_VIEW, purpose=EXCHANGE),
    "exchange-partner": change(
        Action.AGREEMENT_CHANGE, "partner", "partner_id", form=Action.PARTNER_VIEW, purpose=EXCHANGE
    ),
    "exchange-approvals": change(Action.SHARE_APPROVE, "share_request", form=Action.SHARE_LIST, purpose=SUPERVISION),
    "exchange-bundles": read(Action.BUNDLE_LIST, "bundle", purpose=EXCHANGE),
    "exchange-bundle-retry": change(Action.BUNDLE_SEND, "bundle", "bundle_pk", purpose=EXCHANGE),
    # the partner-facing API: a partner's node with its token (the views audit what they serve)
    "api-exchange-inbox": change(Action.BUNDLE_RECEIVE, "bundle", purpose=EXCHANGE),
    "api-exchange-feed": read(Action.BUNDLE_PULL, "bundle", purpose=EXCHANGE),
    "api-exchange-bundle": read(Action.BUNDLE_PULL, "bundle", "bundle_id", purpose=EXCHANGE),
    "api-exchange-card": public("an agency's public key card: public by design, partners fetch it by URL"),
    "api-exchange-witness": change(Action.CHECKPOINT_COSIGN, "audit_checkpoint", purpose=EXCHANGE),
    # --- retention ------------------------------------------------------------------------------
    "retention-queue": read(Action.RETENTION_QUEUE_VIEW, "retention_queue", purpose=RETENTION),
    "retention-review": change(Action.RETENTION_REVIEW, "record", purpose=RETENTION),
    "retention-erase": change(Action.RETENTION_ERASE, "record", purpose=RETENTION),
    "retention-rules": change(
        Action.RETENTION_RULE_CHANGE, "retention_rule", form=Action.RETENTION_VIEW, purpose=RETENTION
    ),
    "retention-rule-delete": change(Action.RETENTION_RULE_CHANGE, "retention_rule", "rule_id", purpose=RETENTION),
    "retention-holds": read(Action.RETENTION_VIEW, "legal_hold", purpose=RETENTION),
    "retention-hold-place": change(Action.LEGAL_HOLD_PLACE, "case", "case_id", form=Action.CASE_VIEW, purpose=CASE),
    "retention-hold-lift": change(Action.LEGAL_HOLD_LIFT, "case", "case_id", form=Action.CASE_VIEW, purpose=CASE),
    "retention-tombstones": read(Action.RETENTION_VIEW, "tombstone", purpose=RETENTION),
    "retention-report": read(Action.RETENTION_REPORT, "retention_report", purpose=AUDIT),
    "api-retention-rules": change(
        Action.RETENTION_RULE_CHANGE, "retention_rule", form=Action.RETENTION_VIEW, purpose=RETENTION
    ),
    "api-retention-rule": change(Action.RETENTION_RULE_CHANGE, "retention_rule", "rule_id", purpose=RETENTION),
    "api-retention-queue": read(Action.RETENTION_QUEUE_VIEW, "retention_queue", purpose=RETENTION),
    "api-retention-reviews": change(Action.RETENTION_REVIEW, "record", purpose=RETENTION),
    "api-retention-erasures": change(Action.RETENTION_ERASE, "record", purpose=RETENTION),
    "api-retention-tombstones": read(Action.RETENTION_VIEW, "tombstone", purpose=RETENTION),
    "api-retention-legal-holds": read(Action.RETENTION_VIEW, "legal_hold", purpose=RETENTION),
    "api-retention-hold": change(Action.LEGAL_HOLD_PLACE, "case", "case_id", purpose=CASE),
    "api-retention-hold-lift": change(Action.LEGAL_HOLD_LIFT, "case", "case_id", purpose=CASE),
    "api-retention-report": read(Action.RETENTION_REPORT, "retention_report", purpose=AUDIT),
    # --- API description ------------------------------------------------------------------------
    "api-schema": public("the OpenAPI description of the API: no agency's data"),
    "api-docs": public("the API's documentation page: no agency's data"),
}

# URL namespaces declared as one family: every URL in them answers to the family's row.
# /operator/ is the Django admin of the node operator; its own audit (operator engineer's
# `*/admin.py`) writes the specific entries, this row the generic read or refusal.
FAMILIES: dict[str, Route] = {
    "admin": change(Action.OPERATOR_VIEW, "operator", "object_id", purpose=NODE_OPERATION),
}
# Rows for single URLs of a family: (namespace, URL name). The console's login shares the main
# login's throttle and its budget of anonymous failures.
FAMILY_ROUTES: dict[tuple[str, str], Route] = {
    ("admin", "login"): signin(Action.LOGIN),
}


def route_for(url_name: str | None, namespaces: tuple[str, ...] | list[str] = ()) -> Route | None:
    """The declaration of a resolved URL (its family's for a declared namespace), or None."""
    for namespace in namespaces:
        if (namespace, url_name or "") in FAMILY_ROUTES:
            return FAMILY_ROUTES[(namespace, url_name or "")]
        if namespace in FAMILIES:
            return FAMILIES[namespace]
    return ROUTES.get(url_name or "")


def route_object(request, kwargs: dict | None = None) -> tuple[str, str]:
    """(object type, object id) the answered URL names by its row, or ("page", path) without one:
    what a refusal entry names, so scanning ids leaves the ids tried in the log."""
    match = getattr(request, "resolver_match", None)
    route = route_for(match.url_name, match.namespaces) if match is not None else None
    kwargs = kwargs if kwargs is not None else (match.kwargs if match is not None else {})
    if route is not None and route.object_kwarg and route.object_kwarg in kwargs:
        return route.object_type, str(kwargs[route.object_kwarg])[:64]
    return (route.object_type if route is not None and route.object_type else "page"), request.path[:64]
