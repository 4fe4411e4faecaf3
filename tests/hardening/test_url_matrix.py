"""Who may open what: every named URL of the node against every persona.

The table below is the node's access policy in one place. Each row names a URL, the method tried
(GET; POST or PATCH where the view takes nothing else) and the status each persona must get.
Objects in URLs (case, note, hash set, token, partner...) belong to agency A (NSP): see
tests/hardening/conftest.py. `L` is a redirect to the login page.

A URL in the resolver without a row here fails `test_every_url_has_a_row`: add the row, with the
status you mean each persona to get. Requests run in savepoints that are rolled back, so a POST
that changes something (revoke a token, rotate keys) does not change what the next row sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.hardening.conftest import PERSONAS

pytestmark = pytest.mark.django_db

L = "login"  # 302 to the login page (not signed in, or not past the one-time code)


@dataclass(frozen=True)
class Row:
    method: str
    expect: tuple
    query: str = ""
    body: str | None = None  # JSON for API writes


def get(*expect, query: str = "") -> Row:
    return Row("GET", expect, query)


def post(*expect) -> Row:
    return Row("POST", expect)


def api_post(*expect) -> Row:
    return Row("POST", expect, body="{}")


def api_patch(*expect) -> Row:
    return Row("PATCH", expect, body="{}")


def api_delete(*expect) -> Row:
    return Row("DELETE", expect, body="")


# Reused rows.  Order of the codes: anon, alice, bob, charlie, sam, adam, audrey, partner.
# alice: investigator of NSP, owner of every object (case lead) · bob: NSP investigator, not on the
# case · charlie: RNP investigator · sam: NSP supervisor · adam: NSP agency admin · audrey: NSP
# auditor · partner: RNP's node with the partner token NSP issued.
ANY_MEMBER = (L, 200, 200, 200, 200, 200, 200, L)
ADMIN_ONLY = (L, 403, 403, 403, 403, 200, 403, L)
AUDITOR_ONLY = (L, 403, 403, 403, 403, 403, 200, L)
SUPERVISOR_ONLY = (L, 403, 403, 403, 200, 403, 403, L)
HASHSET_STAFF = (L, 200, 200, 200, 200, 200, 403, L)  # not auditors
HASHSET_OBJECT = (L, 200, 200, 404, 200, 200, 403, L)
HASHSET_OBJECT_POST = (L, 302, 302, 404, 302, 302, 403, L)
CASE_READ = (L, 200, 404, 404, 200, 403, 403, L)  # case members and supervisors
CASE_POST = (L, 302, 404, 404, 302, 403, 403, L)
LEAD_POST = CASE_POST
EXCHANGE_STAFF = HASHSET_STAFF
EVERYONE = (200,) * 8
ALL_302 = (302,) * 8
API_MEMBER = (401, 200, 200, 200, 200, 200, 200, 401)
API_CASE_METADATA = (401, 200, 404, 404, 200, 404, 200, 401)
API_CASE_READ = (401, 200, 404, 404, 200, 404, 403, 401)
API_CASE_WRITE = (401, 400, 404, 404, 400, 404, 403, 401)  # authorised writers reach validation
API_LEAD = (401, 200, 404, 404, 200, 404, 404, 401)
API_LEAD_WRITE = (401, 400, 404, 404, 400, 404, 404, 401)
PARTNER_ONLY = (401, 401, 401, 401, 401, 401, 401, 200)
API_AUDITOR = (401, 403, 403, 403, 403, 403, 200, 401)
API_HASHSET_STAFF = (401, 200, 200, 200, 200, 200, 403, 401)  # the hash-set pages' policy (L7)

MATRIX: dict[str, Row] = {
    # --- project ---------------------------------------------------------------------------
    "dashboard": get(*ANY_MEMBER),
    "healthz": get(*EVERYONE),
    "readyz": get(*EVERYONE),
    # --- login, users, tokens ----------------------------------------------------------------
    "login": get(200, 302, 302, 302, 302, 302, 302, 200),
    "login-verify": get(*(L,) * 8),  # no password step pending: back to the login page
    "login-enrol": get(*(L,) * 8),
    "login-recover": get(*(L,) * 8),
    "enrol": get(*EVERYONE),  # a new user's one-time enrolment link: the token is the credential
    "account": get(*ANY_MEMBER),
    "logout": post(*(L,) * 8),
    "users": get(*ADMIN_ONLY),
    "user-create": get(*ADMIN_ONLY),
    "user-detail": get(*ADMIN_ONLY),
    "tokens": get(*ANY_MEMBER),
    "token-revoke": post(L, 302, 404, 404, 404, 404, 404, L),  # alice's token: only alice
    # --- audit (auditors) --------------------------------------------------------------------
    "audit-log": get(*AUDITOR_ONLY),
    "audit-entry": get(*AUDITOR_ONLY),
    "audit-checkpoint": get(*AUDITOR_ONLY),
    "audit-export": get(*AUDITOR_ONLY),
    "audit-verify": get(*AUDITOR_ONLY),
    # --- hash sets ----------------------------------------------------------------------------
    "hashsets": get(*HASHSET_STAFF),
    "hashset-create": get(*HASHSET_STAFF),
    "hashset-detail": get(*HASHSET_OBJECT),
    "hashset-import-upload": post(*HASHSET_OBJECT_POST),  # no file: back to the set with a message
    "hashset-export": get(*HASHSET_OBJECT, query="format=csv"),
    "hashset-publish": post(*HASHSET_OBJECT_POST),  # no recipients chosen
    "hashset-import": get(*HASHSET_OBJECT),
    # --- cases (need-to-know: members and supervisors; auditors see metadata) ------------------
    "cases": get(L, 200, 200, 200, 200, 403, 200, L),
    "case-create": get(L, 200, 200, 200, 200, 403, 403, L),
    "case-templates": get(*SUPERVISOR_ONLY),
    "case-detail": get(L, 200, 404, 404, 200, 403, 200, L),
    "case-edit": get(*CASE_READ),
    "case-status": post(*CASE_POST),
    "case-members": post(*CASE_POST),
    "case-note-create": post(*CASE_POST),
    "case-note": get(*CASE_READ),
    "case-task-create": post(*CASE_POST),
    "case-task": get(*CASE_READ),
    "case-attachment-create": post(*CASE_POST),
    "case-attachment": get(*CASE_READ),
    "case-identifier-create": post(*CASE_POST),
    "case-series-link": post(*CASE_POST),
    "case-triage": get(*CASE_READ),
    "case-evidence-add": get(*CASE_READ),
    "case-rematch": post(*CASE_POST),
    "case-classify-undo": post(*CASE_POST),  # its author (alice) and supervisors; bob, not its author: 404
    "case-evidence-export": get(*CASE_READ),
    "case-lead-create": get(*CASE_READ),
    "leads": get(L, 200, 200, 200, 200, 403, 403, L),
    "lead-detail": get(*CASE_READ),
    "lead-clue": post(*LEAD_POST),
    "lead-status": post(*LEAD_POST),
    "lead-share": post(*LEAD_POST),
    "lead-attach": post(L, 403, 403, 403, 404, 403, 403, L),  # sam: no case named in the form
    "share-queue": get(*SUPERVISOR_ONLY),
    "deconfliction-usage": get(*SUPERVISOR_ONLY),
    "share-decide": post(L, 403, 403, 403, 302, 403, 403, L),
    # --- exchange --------------------------------------------------------------------------------
    "exchange": get(*EXCHANGE_STAFF),
    "exchange-card": get(*ADMIN_ONLY),
    "exchange-keys-rotate": post(L, 403, 403, 403, 403, 302, 403, L),
    "exchange-keys-revoke": post(L, 403, 403, 403, 403, 302, 403, L),
    "exchange-partner-add": get(*ADMIN_ONLY),
    "exchange-partner": get(*HASHSET_OBJECT),
    "exchange-approvals": get(*SUPERVISOR_ONLY),
    "exchange-bundles": get(*EXCHANGE_STAFF),  # charlie sees RNP's own (empty) outbox
    "exchange-bundle-retry": post(L, 302, 302, 404, 302, 302, 403, L),
    # --- retention (review queue, erasure, rules, legal holds, report) -----------------------------
    "retention-queue": get(L, 200, 200, 200, 200, 403, 403, L),
    "retention-review": post(L, 302, 302, 302, 302, 403, 403, L),  # an unreadable review: back to the queue
    "retention-erase": post(L, 403, 403, 403, 302, 403, 403, L),
    "retention-rules": get(L, 403, 403, 403, 200, 200, 200, L),
    "retention-rule-delete": post(L, 403, 403, 403, 403, 302, 403, L),
    "retention-holds": get(L, 403, 403, 403, 200, 403, 200, L),
    "retention-hold-place": post(L, 403, 403, 403, 302, 403, 403, L),  # no reason given: back to the case
    "retention-hold-lift": post(L, 403, 403, 403, 302, 403, 403, L),
    "retention-tombstones": get(L, 403, 403, 403, 200, 200, 200, L),
    "retention-report": get(*AUDITOR_ONLY),
    # --- API v1 ----------------------------------------------------------------------------------
    "api-me": get(*API_MEMBER),
    "api-audit-checkpoint": get(*API_MEMBER),
    "api-audit-inclusion": get(*API_MEMBER, query="index=0"),
    "api-audit-consistency": get(*API_MEMBER, query="first=1&second=1"),
    "api-audit-entry": get(*API_AUDITOR),
    "api-hash-lookup": api_post(401, 400, 400, 400, 400, 400, 403, 401),  # L7: as the pages, not auditors
    "api-hash-match-pdq": api_post(401, 400, 400, 400, 400, 400, 403, 401),
    "api-hash-one": get(*API_HASHSET_STAFF),  # charlie's answer must not show NSP's opinion: test_idor
    "api-hashsets": get(*API_HASHSET_STAFF),
    "api-cases": get(401, 200, 200, 200, 200, 403, 200, 401),  # L7: as the cases page
    "api-case": get(*API_CASE_METADATA),
    "api-case-status": api_post(*API_CASE_WRITE),
    "api-case-members": get(*API_CASE_METADATA),
    "api-case-notes": get(*API_CASE_READ),
    "api-case-note": api_patch(*API_CASE_WRITE),
    "api-case-tasks": get(*API_CASE_READ),
    "api-case-task": api_patch(401, 200, 404, 404, 200, 404, 403, 401),  # every field optional
    "api-case-evidence": get(*API_CASE_READ),
    "api-case-classify": api_post(*API_CASE_WRITE),
    "api-case-deconfliction": get(*API_CASE_READ),
    "api-case-identifiers": api_post(*API_CASE_WRITE),
    "api-case-leads": get(*API_CASE_READ),
    "api-leads": get(401, 200, 200, 200, 200, 403, 403, 401),  # L7: as the leads page
    "api-lead": get(*API_LEAD),
    "api-lead-clues": api_post(*API_LEAD_WRITE),
    "api-lead-share": api_post(*API_LEAD_WRITE),
    "api-retention-rules": get(401, 403, 403, 403, 200, 200, 200, 401),
    "api-retention-rule": api_delete(401, 403, 403, 403, 403, 204, 403, 401),
    "api-retention-queue": get(401, 200, 200, 200, 200, 403, 403, 401),  # reviewers: investigators, supervisors
    "api-retention-reviews": api_post(401, 400, 400, 400, 400, 403, 403, 401),
    "api-retention-erasures": api_post(401, 403, 403, 403, 400, 403, 403, 401),
    "api-retention-tombstones": get(401, 403, 403, 403, 200, 200, 200, 401),
    "api-retention-legal-holds": get(401, 403, 403, 403, 200, 403, 200, 401),
    # legal holds: supervisors; the case's own people are told no (403), outsiders it does not exist (404)
    "api-retention-hold": api_post(401, 403, 404, 404, 400, 404, 403, 401),
    "api-retention-hold-lift": api_post(401, 403, 404, 404, 400, 404, 403, 401),
    "api-retention-report": get(*API_AUDITOR, query="date_from=2026-01-01&date_to=2026-12-31"),
    "api-exchange-inbox": Row("POST", (401,) * 7 + (422,), body=""),  # an empty body is no bundle
    "api-exchange-feed": get(*PARTNER_ONLY),
    "api-exchange-bundle": get(*PARTNER_ONLY),
    "api-exchange-card": get(*EVERYONE),  # public: partners fetch cards by URL
    "api-exchange-witness": get(*PARTNER_ONLY, query="origin=example"),
    "api-schema": get(*EVERYONE),
    "api-docs": get(*EVERYONE),
}

EXCLUDED_NAMESPACES = {"admin"}  # Django admin under /operator/: test_operator_needs_superuser_with_otp


def named_urls(patterns=None, prefix: str = "") -> dict[str, str]:
    """Every URL name in the resolver (outside the excluded namespaces), with its route."""
    found: dict[str, str] = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in EXCLUDED_NAMESPACES:
                continue
            found.update(named_urls(pattern.url_patterns, prefix + str(pattern.pattern)))
        elif isinstance(pattern, URLPattern):
            found[pattern.name or f"<unnamed {prefix}{pattern.pattern}>"] = prefix + str(pattern.pattern)
    return found


def test_every_url_has_a_row():
    urls = named_urls()
    missing = sorted(set(urls) - set(MATRIX))
    assert not missing, (
        "These URLs have no row in tests/hardening/test_url_matrix.py MATRIX. Add one per URL with the "
        "status each persona ("
        + ", ".join(PERSONAS)
        + ") must get:\n"
        + "\n".join(f"  {name}: /{urls[name]}" for name in missing)
    )
    stale = sorted(set(MATRIX) - set(urls))
    assert not stale, f"MATRIX rows for URLs that no longer exist: {stale}"
    assert all(len(row.expect) == len(PERSONAS) for row in MATRIX.values())


def _url(name: str, world) -> str:
    route = named_urls()[name]
    kwargs = {key: value for key, value in world.kwargs.items() if f":{key}>" in route}
    return reverse(name, kwargs=kwargs)


def _outcome(response) -> int | str:
    if response.status_code == 302 and urlsplit(response["Location"]).path == reverse("login"):
        return L
    return response.status_code


def _request(world, persona: str, row: Row, url: str):
    client = world.client(persona)
    path = f"{url}?{row.query}" if row.query else url
    with transaction.atomic():
        if row.body is not None:
            response = client.generic(row.method, path, row.body, content_type="application/json")
        else:
            response = getattr(client, row.method.lower())(path)
        transaction.set_rollback(True)
    return response


def test_url_matrix(world):
    wrong = []
    for name, row in MATRIX.items():
        url = _url(name, world)
        for persona, expected in zip(PERSONAS, row.expect, strict=True):
            got = _outcome(_request(world, persona, row, url))
            if got != expected:
                wrong.append(f"  {row.method} {url} ({name}) as {persona}: expected {expected}, got {got}")
    assert not wrong, "Access differs from the policy table:\n" + "\n".join(wrong)


def test_operator_needs_superuser_with_otp(world):
    """/operator/ (Django admin) is for node operators: a superuser who also gave a one-time code."""
    User = get_user_model()
    operator = User.objects.create_superuser("operator", "op@example.org", "an-operator-passphrase-long")
    device = TOTPDevice.objects.create(user=operator, name="op", confirmed=True)

    def status(client):
        response = client.get("/operator/")
        return response.status_code, response.get("Location", "")

    assert status(Client())[0] == 302
    code, location = status(world.client("adam"))  # an agency admin is no node operator
    assert code == 302 and location.startswith("/operator/login/")
    unverified = Client()
    unverified.force_login(operator)
    code, location = status(unverified)
    assert code == 302 and location.startswith("/operator/login/"), "a superuser without OTP got in"
    verified = Client()
    verified.force_login(operator)
    session = verified.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    assert status(verified)[0] == 200
