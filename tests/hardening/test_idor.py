"""Insecure direct object references: agency B asks for agency A's objects by id.

Every object type with an id in a URL, asked for through the web UI and through the API by the
user of agency B whose role could open that page for its own agency's object: the answer is 404,
never 403 (which would confirm the object exists) and never the object's data.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from agencies.models import Role
from audit.models import AuditEntry
from exchange.models import Partner
from exchange.services import partner_token_issue
from tests.conftest import make_member
from tests.hardening.conftest import fast_client

pytestmark = pytest.mark.django_db

# Text that only agency A's objects hold (see tests/hardening/conftest.py).
SECRETS = ("NSP-SECRET", "Operation Lantern", "NSP known", "minutes.txt", "Series Lantern")


@pytest.fixture
def outsiders(world, carl, agency_b):
    """Agency B's people, one per role: whoever could open the page for RNP's own objects."""
    people = {
        "charlie": world.users["charlie"],
        "carl": carl,
        "sue": make_member(agency_b, Role.SUPERVISOR, "sue"),
        "aria": make_member(agency_b, Role.AUDITOR, "aria"),
    }
    world.users.update(people)
    return people


# (URL, method, the B persona whose role may use this page, POST data)
UI_CASES = [
    ("/hashsets/{hashset_id}/", "get", "charlie", None),
    ("/hashsets/{hashset_id}/import/", "post", "charlie", {}),
    ("/hashsets/{hashset_id}/export/?format=csv", "get", "charlie", None),
    ("/hashsets/{hashset_id}/publish/", "post", "charlie", {"recipients": ["RNP"]}),
    ("/hashsets/imports/{import_id}/", "get", "charlie", None),
    ("/hashsets/imports/{import_id}/?format=json", "get", "charlie", None),
    ("/agency/users/{user_id}/", "get", "carl", None),
    ("/agency/users/{user_id}/", "post", "carl", {"action": "deactivate"}),
    ("/account/tokens/{token_id}/revoke/", "post", "charlie", {}),
    ("/account/tokens/{token_id}/revoke/", "post", "carl", {}),
    ("/exchange/partners/{partner_id}/", "get", "carl", None),
    ("/exchange/partners/{partner_id}/", "post", "carl", {"action": "issue-token"}),
    ("/exchange/keys/{key_set_id}/revoke/", "post", "carl", {"reason": "compromised"}),
    ("/exchange/bundles/item/{bundle_pk}/retry/", "post", "charlie", {}),
    ("/exchange/approvals/", "post", "sue", {"request": "{share_request_id}", "decision": "approve"}),
    ("/cases/{case_id}/", "get", "charlie", None),
    ("/cases/{case_id}/", "get", "sue", None),
    ("/cases/{case_id}/", "get", "aria", None),
    ("/cases/{case_id}/edit/", "get", "sue", None),
    ("/cases/{case_id}/edit/", "post", "charlie", {"title": "x", "priority": 2, "tlp": "AMBER"}),
    ("/cases/{case_id}/status/", "post", "sue", {"status": "active"}),
    ("/cases/{case_id}/members/", "post", "sue", {"username": "sue", "role": "member"}),
    ("/cases/{case_id}/notes/", "post", "charlie", {"body": "x"}),
    ("/cases/{case_id}/notes/{note_id}/", "get", "charlie", None),
    ("/cases/{case_id}/notes/{note_id}/", "post", "sue", {"body": "x"}),
    ("/cases/{case_id}/tasks/", "post", "charlie", {"title": "x"}),
    ("/cases/{case_id}/tasks/{task_id}/", "get", "sue", None),
    ("/cases/{case_id}/tasks/{task_id}/", "post", "charlie", {"state": "done"}),
    ("/cases/{case_id}/attachments/", "post", "charlie", {}),
    ("/cases/{case_id}/attachments/{attachment_id}/", "get", "charlie", None),
    ("/cases/{case_id}/attachments/{attachment_id}/", "get", "sue", None),
    ("/cases/{case_id}/identifiers/", "post", "charlie", {"kind": "email", "value": "x@example.org"}),
    ("/cases/{case_id}/series/", "post", "charlie", {"name": "x"}),
    ("/cases/{case_id}/evidence/", "get", "charlie", None),
    ("/cases/{case_id}/evidence/", "post", "sue", {"items": ["{evidence_id}"], "category": "csam_ungraded"}),
    ("/cases/{case_id}/evidence/add/", "get", "charlie", None),
    ("/cases/{case_id}/evidence/rematch/", "post", "charlie", {}),
    ("/cases/{case_id}/evidence/export.csv", "get", "sue", None),
    ("/cases/{case_id}/leads/new/", "get", "charlie", None),
    ("/cases/leads/{lead_id}/", "get", "charlie", None),
    ("/cases/leads/{lead_id}/", "get", "sue", None),
    ("/cases/leads/{lead_id}/clues/", "post", "sue", {"type": "language", "text": "x"}),
    ("/cases/leads/{lead_id}/status/", "post", "charlie", {"status": "closed"}),
    ("/cases/leads/{lead_id}/share/", "post", "charlie", {"partners": "RNP", "purpose": "victim_identification"}),
    ("/cases/leads/{lead_id}/attach/", "post", "sue", {"case": "{case_id}"}),
    ("/cases/shares/{request_id}/", "post", "sue", {"decision": "approve"}),
    ("/retention/rules/{rule_id}/delete/", "post", "carl", {}),
    ("/retention/cases/{case_id}/hold/", "post", "sue", {"reason": "court order"}),
    ("/retention/cases/{case_id}/hold/lift/", "post", "sue", {"reason": "case closed"}),
]

API_CASES = [
    ("/api/v1/cases/{case_id}", "get", None),
    ("/api/v1/cases/{case_id}", "patch", {"title": "x"}),
    ("/api/v1/cases/{case_id}/status", "post", {"status": "active"}),
    ("/api/v1/cases/{case_id}/members", "get", None),
    ("/api/v1/cases/{case_id}/members", "post", {"username": "charlie"}),
    ("/api/v1/cases/{case_id}/notes", "get", None),
    ("/api/v1/cases/{case_id}/notes", "post", {"body": "x"}),
    ("/api/v1/cases/{case_id}/notes/{note_id}", "patch", {"body": "x"}),
    ("/api/v1/cases/{case_id}/tasks", "get", None),
    ("/api/v1/cases/{case_id}/tasks", "post", {"title": "x"}),
    ("/api/v1/cases/{case_id}/tasks/{task_id}", "patch", {"state": "done"}),
    ("/api/v1/cases/{case_id}/evidence", "get", None),
    ("/api/v1/cases/{case_id}/evidence", "post", {"hashes": "d41d8cd98f00b204e9800998ecf8427e"}),
    ("/api/v1/cases/{case_id}/evidence/classify", "post", {"items": ["{evidence_id}"], "category": "csam_ungraded"}),
    ("/api/v1/cases/{case_id}/deconfliction", "get", None),
    ("/api/v1/cases/{case_id}/identifiers", "post", {"kind": "email", "value": "x@example.org"}),
    ("/api/v1/cases/{case_id}/leads", "get", None),
    ("/api/v1/cases/{case_id}/leads", "post", {"title": "x"}),
    ("/api/v1/leads/{lead_id}", "get", None),
    ("/api/v1/leads/{lead_id}", "patch", {"status": "closed"}),
    ("/api/v1/leads/{lead_id}/clues", "post", {"type": "language", "text": "x"}),
    ("/api/v1/leads/{lead_id}/share", "post", {"partners": ["RNP"]}),
    # role-gated before any lookup (the same 403 whatever the id): only RNP's admin is asked
    ("/api/v1/retention/rules/{rule_id}", "delete", None, ("carl",)),
    ("/api/v1/retention/cases/{case_id}/legal-hold", "post", {"reason": "court order"}),
    ("/api/v1/retention/cases/{case_id}/legal-hold/lift", "post", {"reason": "case closed"}),
]


def _ids(world) -> dict[str, int | str]:
    objects = world.objects
    return {
        **world.kwargs,
        "share_request_id": objects["share_request"].pk,
        "evidence_id": objects["evidence"].pk,
    }


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


def _refused_without_data(response) -> str | None:
    """None if the response is a plain 404 that reveals nothing of A's objects, else what is wrong."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", "replace")
    if response.status_code != 404:
        return f"status {response.status_code}"
    leaked = [secret for secret in SECRETS if secret in text]
    return f"404 page shows {leaked}" if leaked else None


def test_ui_objects_of_another_agency_are_404(world, outsiders):
    ids = _ids(world)
    wrong = []
    for template, method, persona, data in UI_CASES:
        url = template.format(**ids)
        client = world.client(persona)
        with transaction.atomic():
            if method == "get":
                response = client.get(url)
            else:
                response = client.post(url, _fill(data, ids))
            transaction.set_rollback(True)
        problem = _refused_without_data(response)
        if problem:
            wrong.append(f"  {method.upper()} {url} as {persona}: {problem}")
    assert not wrong, "Agency B reached agency A's objects through the UI:\n" + "\n".join(wrong)


def test_api_objects_of_another_agency_are_404(world, outsiders):
    ids = _ids(world)
    wrong = []
    for persona in ("charlie", "sue", "aria", "carl"):
        client = world.api_client(persona)  # bearer token: the way scripts call the API
        for template, method, data, *only in API_CASES:
            if only and persona not in only[0]:
                continue
            url = template.format(**ids)
            with transaction.atomic():
                if data is None:
                    response = client.generic(method.upper(), url)
                else:
                    response = client.generic(
                        method.upper(), url, json.dumps(_fill(data, ids)), content_type="application/json"
                    )
                transaction.set_rollback(True)
            problem = _refused_without_data(response)
            if problem:
                wrong.append(f"  {method.upper()} {url} as {persona}: {problem}")
    assert not wrong, "Agency B reached agency A's objects through the API:\n" + "\n".join(wrong)


def test_need_to_know_inside_the_agency_is_404_too(world):
    """bob (NSP investigator, not on the case) is an outsider to the case: 404, UI and API alike."""
    ids = _ids(world)
    client, api = world.client("bob"), world.api_client("bob")
    for url in ("/cases/{case_id}/", "/cases/{case_id}/notes/{note_id}/", "/cases/leads/{lead_id}/"):
        assert _refused_without_data(client.get(url.format(**ids))) is None, url
    for url in ("/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/notes", "/api/v1/leads/{lead_id}"):
        assert _refused_without_data(api.get(url.format(**ids))) is None, url


def test_audit_entries_of_another_agency_are_404(world, outsiders):
    entry = AuditEntry.objects.filter(agency_code="NSP").order_by("index").first()
    assert entry is not None
    problems = [
        _refused_without_data(world.client("aria").get(f"/audit/entries/{entry.index}/")),
        _refused_without_data(world.api_client("aria").get(f"/api/v1/audit/entries/{entry.index}")),
    ]
    listing = world.client("aria").get("/audit/?agency=NSP")
    assert problems == [None, None] and b"alice" not in listing.content


def test_hash_lookups_show_no_opinion_of_an_agency_that_did_not_share(world, outsiders):
    """charlie may look up the digest NSP classified, but learns nothing of NSP's opinion of it."""
    api = world.api_client("charlie")
    digest = world.kwargs["hex_digest"]
    one = api.get(f"/api/v1/hashes/md5/{digest}").json()
    assert one["known"] is False and one["classifications"] == []
    batch = api.post(
        "/api/v1/hashes/lookup", {"hashes": [{"algorithm": "md5", "hex": digest}]}, content_type="application/json"
    ).json()
    assert batch["known"] == 0 and batch["results"][0]["classifications"] == []
    listing = api.get("/api/v1/hashsets").json()
    assert all(item["owner"] != "NSP" for item in listing["results"])
    assert b"NSP known" not in world.client("charlie").get("/hashsets/").content


def test_a_partner_node_gets_only_bundles_addressed_to_it(world, agency_a, adam):
    """A third agency's node, also NSP's partner, cannot pull NSP's bundle for RNP (404) nor list it."""
    from agencies.models import Agency

    third = Agency.objects.create(name="Third Police", code="TPX", country="DE", hosted_here=False)
    partner = Partner.objects.create(agency=agency_a, partner=third, state=Partner.State.VERIFIED)
    token = partner_token_issue(acting_user=adam, partner=partner)
    client = fast_client(HTTP_AUTHORIZATION=f"Partner {token}")
    bundle = world.objects["bundle"]
    assert client.get(f"/api/v1/exchange/bundles/{bundle.bundle_id}").status_code == 404
    feed = client.get("/api/v1/exchange/feed").json()
    assert str(bundle.bundle_id) not in json.dumps(feed)
    # ...while RNP's node, the addressee, gets it.
    rnp = fast_client(HTTP_AUTHORIZATION=world.tokens["partner"])
    assert rnp.get(f"/api/v1/exchange/bundles/{bundle.bundle_id}").status_code == 200


def test_posted_ids_that_are_not_numbers_are_404(world):
    """A form field naming an object by id, filled with junk, names nothing: 404, not a 500."""
    sam = world.client("sam")
    for junk in ("abc", "²", ""):
        assert sam.post("/exchange/approvals/", {"request": junk, "decision": "approve"}).status_code == 404
        assert sam.post(f"/cases/leads/{world.kwargs['lead_id']}/attach/", {"case": junk}).status_code == 404
