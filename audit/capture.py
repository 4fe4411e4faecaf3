"""`audit_record`: the one function every service calls to write an audit entry.

It inserts into the pending queue inside the caller's transaction, so an entry exists exactly
when the action committed: no change without its entry, no entry for a change that rolled back.
Indices and the Merkle tree are assigned later by the integrator (`audit.integrator`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from audit.actions import Action, Outcome
from audit.models import AuditPending, AuditSensitiveValue
from casebridge.lib.canonical_json import canonical_json
from casebridge.middleware import current_request


@dataclass(frozen=True)
class Actor:
    """Who acted: a user of this node, a partner agency's system, or the node itself."""

    type: str  # "user", "partner", "system", "anonymous"
    id: str = ""
    name: str = ""
    role: str = ""
    auth: str = ""
    agency: str = ""

    def as_entry(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "name": self.name, "role": self.role, "auth": self.auth}


SYSTEM_ACTOR = Actor(type="system", name="casebridge", auth="system")


def actor_for_user(user: Any, *, auth: str = "") -> Actor:
    """The actor for a Django user (anonymous users included), with role and agency."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(type="anonymous", auth=auth)
    membership = getattr(user, "membership", None)
    if membership is not None:
        role = membership.role
    elif getattr(user, "node_auditor", None) is not None:
        role = "node_auditor"  # agencies.models.NodeAuditor: belongs to no agency
    else:
        role = "operator" if user.is_superuser else ""
    return Actor(
        type="user",
        id=str(user.pk),
        name=user.get_username(),
        role=role,
        auth=auth or getattr(user, "_casebridge_auth", "") or "session",
        agency=membership.agency.code if membership else "",
    )


def commit_value(value: str) -> tuple[str, bytes]:
    """A salted SHA-256 commitment to `value`: reveals nothing without the salt, proves it with it."""
    salt = secrets.token_bytes(settings.AUDIT_COMMITMENT_SALT_BYTES)
    return hashlib.sha256(salt + value.encode("utf-8")).hexdigest(), salt


_PENDING_INSERT = "INSERT INTO audit_pending (body) VALUES (%s)"


def _pending_insert(body: str) -> None:
    """One INSERT of the entry into the writers' queue, without the ORM's per-row work.

    `AuditPending.objects.create` builds a model instance, compiles the SQL and asks for the new id
    back (`RETURNING`) on every call; and Django's PostgreSQL cursors bind parameters client-side,
    so the server parses the whole statement, 400-odd bytes of entry included, every time. This
    goes through Django's cursor wrapper all the same (health check, thread check, error
    translation, execute wrappers, the DEBUG query log), but on a server-binding psycopg cursor:
    psycopg prepares the statement on the connection after a few uses, and from then on only the
    body is sent.
    """
    if connection.vendor != "postgresql":
        AuditPending.objects.create(body=body)
        return
    import psycopg

    connection.close_if_health_check_failed()  # what connection.cursor() does first
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with cursor:
        cursor.execute(_PENDING_INSERT, [body])


def _utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_record(
    *,
    action: Action,
    actor: Actor,
    outcome: Outcome = Outcome.SUCCESS,
    agency: str | None = None,
    object_type: str = "",
    object_id: str | int = "",
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    sensitive: Mapping[str, str] | None = None,
    purpose: Mapping[str, str] | None = None,
    recipients: Sequence[str] = (),
) -> None:
    """Append an audit entry to the caller's transaction.

    `details` must not contain case content, lead text or search terms: pass those in
    `sensitive`, which stores only a salted commitment in the entry. `purpose` is the declared
    justification (`{"code": ..., "case": ...}`; free text goes in `sensitive["purpose_text"]`),
    and `recipients` the agencies a disclosure went to.
    """
    if not isinstance(action, Action):
        action = Action(action)  # raises ValueError for an action outside the fixed list
    context = current_request.get()
    commitments: dict[str, str] = {}
    side_rows: list[AuditSensitiveValue] = []
    now_text = _utc_now_text()
    for field, value in (sensitive or {}).items():
        if value is None or value == "":
            continue
        commitment, salt = commit_value(str(value))
        commitments[field] = commitment
        side_rows.append(
            AuditSensitiveValue(
                commitment=commitment, salt=salt, value=str(value), field=field, created_at=datetime.now(UTC)
            )
        )
    entry = {
        "time": now_text,
        "actor": actor.as_entry(),
        "agency": agency if agency is not None else actor.agency,
        "action": str(action.value),
        "object": {"type": object_type, "id": str(object_id)},
        "outcome": str(Outcome(outcome).value),
        "reason": reason,
        "request_id": context.request_id if context else "",
        "source": context.source_address if context else "",
        "purpose": dict(purpose or {}),
        "recipients": list(recipients),
        "details": dict(details or {}),
        "commitments": commitments,
    }
    if context and context.client_request_id:
        # The caller's own X-Request-ID, for matching its logs to ours; `request_id` is always the
        # node's, so a client can neither join its requests in the log nor pose as another's.
        entry["details"].setdefault("client_request_id", context.client_request_id)
    # Canonicalizing here (not only at integration) makes a bad detail value fail the caller's
    # transaction instead of jamming the integrator for everyone.
    body = canonical_json(entry).decode("utf-8")
    if side_rows or not connection.in_atomic_block:
        # No savepoint: the entry lives or dies with the caller's transaction (5 round trips -> 3).
        with transaction.atomic(savepoint=False):
            _pending_insert(body)
            if side_rows:
                AuditSensitiveValue.objects.bulk_create(side_rows)
    else:
        # The usual case, one statement inside the caller's transaction: no block of our own, but
        # a failure still dooms the caller's transaction, as atomic(savepoint=False) would.
        try:
            _pending_insert(body)
        except BaseException:
            connection.needs_rollback = True
            raise
    if settings.AUDIT_INTEGRATE_ON_COMMIT:
        from audit.integrator import audit_integrate_soon

        transaction.on_commit(audit_integrate_soon)
    request_trail_note(
        outcome=outcome,
        replay=lambda: audit_record(
            action=action, actor=actor, outcome=outcome, agency=agency, object_type=object_type,
            object_id=object_id, reason=reason, details=details, sensitive=sensitive, purpose=purpose,
            recipients=recipients,
        ),
    )  # fmt: skip


# --- what one request wrote (audit/routes.py, audit/middleware.py) ----------------------------------


class _Mark:
    """One entry written during a request; `committed` once its transaction committed."""

    __slots__ = ("committed", "denied", "hook", "replay")

    def __init__(self, *, denied: bool, replay: Callable[[], None] | None) -> None:
        self.committed = False
        self.denied = denied
        self.replay = replay

        def hook() -> None:
            self.committed = True

        self.hook = hook


@dataclass
class RequestTrail:
    """The entries one request wrote, so the route layer can tell whether the view audited itself
    and whether those entries outlived the view's transactions (a rolled-back savepoint drops its
    on_commit hooks, so a mark whose hook neither ran nor waits any more was rolled back)."""

    marks: list[_Mark] = dataclasses.field(default_factory=list)
    replaying: bool = False

    def _survived(self, mark: _Mark) -> bool:
        if mark.committed:
            return True
        return any(func is mark.hook for _sids, func, *_rest in connection.run_on_commit)

    def surviving(self) -> list[_Mark]:
        return [mark for mark in self.marks if self._survived(mark)]

    def lost_refusals(self) -> list[_Mark]:
        return [mark for mark in self.marks if mark.denied and not self._survived(mark)]


request_trail: ContextVar[RequestTrail | None] = ContextVar("request_trail", default=None)


def request_trail_note(*, outcome: Outcome | str, replay: Callable[[], None] | None = None) -> None:
    """Called by `audit_record` after each entry: remembers it for the request being answered.

    A refusal (`Outcome.DENIED`) keeps `replay`, which writes the same entry again: when the
    refusal's own transaction rolled it back, the route layer replays it after the response, outside
    that transaction, through the same pending queue (so the same ordering guarantees hold).
    """
    trail = request_trail.get()
    if trail is None or trail.replaying:
        return
    denied = str(Outcome(outcome).value) == Outcome.DENIED.value
    mark = _Mark(denied=denied, replay=replay if denied else None)
    trail.marks.append(mark)
    transaction.on_commit(mark.hook)  # outside any atomic block this runs at once


def request_trail_replay_lost_refusals(trail: RequestTrail) -> int:
    """Write again each refusal entry of `trail` that a rolled-back transaction took with it."""
    lost = trail.lost_refusals()
    trail.replaying = True
    try:
        for mark in lost:
            if mark.replay is not None:
                mark.replay()
                mark.committed = True  # written now, outside the view's transaction
    finally:
        trail.replaying = False
    return len(lost)
