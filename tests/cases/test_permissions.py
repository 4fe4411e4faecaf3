"""Every case, note, task, evidence, lead and deconfliction endpoint and page, against every persona.

alice: case lead (member) · bob: investigator of the same agency, not on the case · sam: supervisor ·
audrey: auditor (metadata only) · adam: agency admin · charlie: investigator of another agency.
Outsiders get 404, never 403.
"""

from __future__ import annotations

import pytest

from cases import services
from cases.access import Access
from cases.models import Case
from tests.cases.conftest import ctx
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db

PERSONAS = ("alice", "bob", "sam", "audrey", "adam", "charlie")


@pytest.fixture
def world(alice, bob, sam, audrey, adam, charlie):
    case = services.case_create(acting_user=alice, title="Matrix case", description="content")
    write = ctx(alice, case, Access.WRITE)
    note = services.note_create(acting_user=alice, context=write, body="a note")
    task = services.task_create(acting_user=alice, context=write, title="a task")
    services.evidence_add(acting_user=alice, context=write, parsed=services.evidence_parse_pasted("a" * 32))
    lead = services.lead_create(acting_user=alice, context=write, title="a lead", clues=[("language", "Dutch")])
    users = {u.username: u for u in (alice, bob, sam, audrey, adam, charlie)}
    return {"case": case, "note": note, "task": task, "lead": lead, "users": users}


# expected status per persona, in PERSONAS order
READ_CONTENT = (200, 404, 200, 403, 404, 404)
WRITE_CONTENT = (201, 404, 201, 403, 404, 404)
METADATA = (200, 404, 200, 200, 404, 404)

API = [
    ("get", "/api/v1/cases/{case}", None, METADATA),
    ("get", "/api/v1/cases/{case}/members", None, METADATA),
    ("get", "/api/v1/cases/{case}/notes", None, READ_CONTENT),
    ("post", "/api/v1/cases/{case}/notes", {"body": "more"}, WRITE_CONTENT),
    ("patch", "/api/v1/cases/{case}/notes/{note}", {"body": "changed"}, (200, 404, 200, 403, 404, 404)),
    ("get", "/api/v1/cases/{case}/tasks", None, READ_CONTENT),
    ("post", "/api/v1/cases/{case}/tasks", {"title": "t"}, WRITE_CONTENT),
    ("patch", "/api/v1/cases/{case}/tasks/{task}", {"state": "done"}, (200, 404, 200, 403, 404, 404)),
    ("get", "/api/v1/cases/{case}/evidence", None, READ_CONTENT),
    ("post", "/api/v1/cases/{case}/evidence", {"hashes": "b" * 40}, WRITE_CONTENT),
    ("get", "/api/v1/cases/{case}/deconfliction", None, READ_CONTENT),
    ("post", "/api/v1/cases/{case}/identifiers", {"kind": "email", "value": "{persona}@example.org"}, WRITE_CONTENT),
    ("get", "/api/v1/cases/{case}/leads", None, READ_CONTENT),
    ("post", "/api/v1/cases/{case}/leads", {"title": "l"}, WRITE_CONTENT),
    ("get", "/api/v1/leads/{lead}", None, (200, 404, 200, 404, 404, 404)),
    ("post", "/api/v1/leads/{lead}/clues", {"type": "object", "text": "a red chair"}, (201, 404, 201, 404, 404, 404)),
    ("patch", "/api/v1/leads/{lead}", {"status": "in_progress"}, (200, 404, 200, 404, 404, 404)),
    ("post", "/api/v1/cases/{case}/status", {"status": "active"}, (200, 404, 200, 403, 404, 404)),
]

PAGES = [
    ("/cases/{case}/", (200, 404, 200, 200, 403, 404)),
    ("/cases/{case}/evidence/", (200, 404, 200, 403, 403, 404)),
    ("/cases/{case}/evidence/add/", (200, 404, 200, 403, 403, 404)),
    ("/cases/{case}/notes/{note}/", (200, 404, 200, 403, 403, 404)),
    ("/cases/{case}/tasks/{task}/", (200, 404, 200, 403, 403, 404)),
    ("/cases/{case}/leads/new/", (200, 404, 200, 403, 403, 404)),
    ("/cases/{case}/evidence/export.csv", (200, 404, 200, 403, 403, 404)),
    ("/cases/leads/{lead}/", (200, 404, 200, 403, 403, 404)),
]


def _url(template, world):
    return template.format(case=world["case"].pk, note=world["note"].pk, task=world["task"].pk, lead=world["lead"].pk)


@pytest.mark.parametrize("method,template,body,expected", API, ids=[f"{m} {t}" for m, t, _, _ in API])
def test_api_matrix(api_client, world, method, template, body, expected):
    url = _url(template, world)
    for persona, status in zip(PERSONAS, expected, strict=True):
        Case.objects.filter(pk=world["case"].pk).update(status="open")  # status steps repeat per persona
        login_verified(api_client, world["users"][persona])
        data = {k: v.format(persona=persona) if isinstance(v, str) else v for k, v in body.items()} if body else None
        response = getattr(api_client, method)(url, data, format="json") if body else getattr(api_client, method)(url)
        assert response.status_code == status, f"{persona}: {response.status_code} {response.content[:300]!r}"
        if status == 404:
            assert "Matrix case" not in response.content.decode()


@pytest.mark.parametrize("template,expected", PAGES, ids=[t for t, _ in PAGES])
def test_page_matrix(client, world, template, expected):
    url = _url(template, world)
    for persona, status in zip(PERSONAS, expected, strict=True):
        login_verified(client, world["users"][persona])
        response = client.get(url)
        assert response.status_code == status, f"{persona}: {response.status_code}"
        if status in (403, 404):
            assert "Matrix case" not in response.content.decode()


def test_auditor_sees_metadata_only(api_client, world, audrey):
    login_verified(api_client, audrey)
    body = api_client.get(f"/api/v1/cases/{world['case'].pk}").json()
    assert body["title"] == "Matrix case" and body["access"] == "metadata" and body["description"] is None
    listed = api_client.get("/api/v1/cases/").json()
    assert [c["reference"] for c in listed["results"]] == [world["case"].reference]


def test_case_list_shows_members_and_supervisors_only(api_client, world, bob, sam, charlie):
    for user, count in ((bob, 0), (sam, 1), (charlie, 0)):
        login_verified(api_client, user)
        assert api_client.get("/api/v1/cases/").json()["count"] == count


def test_viewer_reads_but_cannot_write(api_client, world, alice, bob):
    services.case_member_set(
        acting_user=alice, context=ctx(alice, world["case"], Access.MANAGE), username="bob", role="viewer"
    )
    login_verified(api_client, bob)
    case = world["case"].pk
    assert api_client.get(f"/api/v1/cases/{case}/notes").status_code == 200
    response = api_client.post(f"/api/v1/cases/{case}/notes", {"body": "x"}, format="json")
    assert response.status_code == 403 and "viewer" in response.json()["detail"]


def test_list_pages_by_role(client, world):
    expected = {"alice": 200, "sam": 200, "audrey": 200, "adam": 403, "charlie": 200}
    for persona, status in expected.items():
        login_verified(client, world["users"][persona])
        assert client.get("/cases/").status_code == status, persona
    login_verified(client, world["users"]["charlie"])
    assert "Matrix case" not in client.get("/cases/").content.decode()
    login_verified(client, world["users"]["sam"])
    assert client.get("/cases/shares/").status_code == 200
    assert client.get("/cases/leads/").status_code == 200
    assert client.get("/").status_code == 200
    login_verified(client, world["users"]["alice"])
    assert client.get("/cases/shares/").status_code == 403
    dashboard = client.get("/").content.decode()
    assert world["case"].reference in dashboard and "Leads by status" in dashboard
