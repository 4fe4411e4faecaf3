"""Attachments refuse pictures by content; lists keep a constant number of queries."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from casebridge.errors import CasebridgeError
from cases import services
from cases.access import Access
from cases.models import Attachment, CaseRole
from tests.cases.conftest import ctx
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 120, 200)).save(buffer, format="PNG")  # a benign blue square
    return buffer.getvalue()


def test_png_named_as_pdf_is_refused_by_content(alice, case_a, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("minutes.pdf", _png(), content_type="application/pdf")
    with pytest.raises(CasebridgeError, match=r"minutes\.pdf is a picture"):
        services.attachment_add(acting_user=alice, context=ctx(alice, case_a, Access.WRITE), upload=upload)
    assert not Attachment.objects.exists() and not list(tmp_path.rglob("*"))


def test_documents_are_stored_and_oversize_refused(client, as_user, alice, case_a, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    settings.CASE_ATTACHMENT_MAX_BYTES = 1000
    as_user(alice)
    pdf = SimpleUploadedFile("report.pdf", b"%PDF-1.7\n%benign test document\n", content_type="application/pdf")
    response = client.post(f"/cases/{case_a.pk}/attachments/", {"file": pdf}, follow=True)
    assert "report.pdf attached" in response.content.decode()
    attachment = Attachment.objects.get()
    assert attachment.kind == "pdf" and (tmp_path / attachment.file.name).exists()
    assert "report" not in attachment.file.name  # a random name on disk
    download = client.get(f"/cases/{case_a.pk}/attachments/{attachment.pk}/")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")
    big = SimpleUploadedFile("big.txt", b"x" * 1001, content_type="text/plain")
    response = client.post(f"/cases/{case_a.pk}/attachments/", {"file": big}, follow=True)
    assert "limited to 1,000 bytes" in response.content.decode()
    picture = SimpleUploadedFile("notes.txt", _png(), content_type="text/plain")
    response = client.post(f"/cases/{case_a.pk}/attachments/", {"file": picture}, follow=True)
    assert "never stores imagery" in response.content.decode()
    binary = SimpleUploadedFile("tool.exe", b"MZ\x00\x01binary", content_type="application/octet-stream")
    response = client.post(f"/cases/{case_a.pk}/attachments/", {"file": binary}, follow=True)
    assert "Only PDF, plain-text" in response.content.decode()
    assert Attachment.objects.count() == 1


def _make_cases(user, n):
    for i in range(n):
        case = services.case_create(acting_user=user, title=f"Case {i}")
        services.case_member_set(
            acting_user=user, context=ctx(user, case, Access.MANAGE), username="bob", role=CaseRole.MEMBER
        )


def _count(api_client, url):
    with CaptureQueriesContext(connection) as captured:
        response = api_client.get(url)
    assert response.status_code == 200
    return len(captured), response.json()


@pytest.mark.parametrize("persona", ["bob", "sam"])
def test_case_list_queries_do_not_grow_with_rows(api_client, alice, bob, sam, persona, django_assert_num_queries):
    user = {"bob": bob, "sam": sam}[persona]
    _make_cases(alice, 2)
    login_verified(api_client, user)
    few, body = _count(api_client, "/api/v1/cases/?status=open&q=case")
    assert body["count"] == 2
    _make_cases(alice, 20)
    with django_assert_num_queries(few):
        body = api_client.get("/api/v1/cases/?status=open&q=case").json()
    assert body["count"] == 22 and len(body["results"]) == 22


def test_evidence_and_lead_lists_queries_do_not_grow(api_client, alice, case_a, django_assert_num_queries):
    write = ctx(alice, case_a, Access.WRITE)
    services.evidence_add(acting_user=alice, context=write, parsed=services.evidence_parse_pasted("a" * 32))
    services.lead_create(acting_user=alice, context=write, title="l0", clues=[("object", "chair")])
    login_verified(api_client, alice)
    url = f"/api/v1/cases/{case_a.pk}/evidence"
    few, _ = _count(api_client, url)
    lead_few, _ = _count(api_client, "/api/v1/leads/")
    services.evidence_add(
        acting_user=alice,
        context=write,
        parsed=services.evidence_parse_pasted("\n".join(f"{n:032x}" for n in range(1, 60))),
    )
    for n in range(5):
        services.lead_create(
            acting_user=alice, context=write, title=f"l{n + 1}", clues=[("object", "x"), ("language", "y")]
        )
    with django_assert_num_queries(few):
        assert api_client.get(url).json()["count"] == 60
    with django_assert_num_queries(lead_few):
        assert api_client.get("/api/v1/leads/").json()["count"] == 6


def test_pages_render_for_a_member(client, as_user, alice, sam, case_a, partnership):
    write = ctx(alice, case_a, Access.WRITE)
    note = services.note_create(acting_user=alice, context=write, body="visible note")
    task = services.task_create(acting_user=alice, context=write, title="visible task", assignee="alice")
    lead = services.lead_create(acting_user=alice, context=write, title="visible lead", tlp="AMBER")
    as_user(alice)
    for url in (
        "/cases/", "/cases/?q=lantern&status=open&mine=on", "/cases/new/", f"/cases/{case_a.pk}/",
        f"/cases/{case_a.pk}/edit/", f"/cases/{case_a.pk}/notes/{note.pk}/", f"/cases/{case_a.pk}/tasks/{task.pk}/",
        f"/cases/{case_a.pk}/evidence/", f"/cases/{case_a.pk}/evidence/add/", f"/cases/leads/{lead.pk}/", "/cases/leads/", "/",  # noqa: E501
    ):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        assert "style=" not in response.content.decode() and "<script>" not in response.content.decode()
    detail = client.get(f"/cases/{case_a.pk}/").content.decode()
    assert "visible note" in detail and "visible task" in detail and "visible lead" in detail
    response = client.post("/cases/new/", {"title": "From the form", "priority": "3", "tlp": "RED", "template": ""})
    assert response.status_code == 302
    response = client.post(f"/cases/{case_a.pk}/status/", {"status": "closed"}, follow=True)
    assert "The case is now closed" in response.content.decode()
    response = client.post(f"/cases/{case_a.pk}/status/", {"status": "suspended"}, follow=True)
    assert "Select a valid choice" in response.content.decode() or "cannot go from closed" in response.content.decode()
    client.post(f"/cases/leads/{lead.pk}/share/", {"partners": "RNP", "purpose": "victim_identification"})
    as_user(sam)
    queue = client.get("/cases/shares/").content.decode()
    assert "visible lead" in queue
    share = lead.share_requests.get()
    response = client.post(f"/cases/shares/{share.pk}/", {"decision": "approve"}, follow=True)
    assert "approved" in response.content.decode()


def test_case_from_template_gets_default_tasks(client, as_user, sam):
    as_user(sam)
    client.post("/cases/templates/", {"name": "Grooming", "description": "", "priority": "2", "tlp": "AMBER",
                                      "tasks": "Preserve account data | 3\nRequest subscriber info"})  # fmt: skip
    from cases.models import CaseTemplate

    template = CaseTemplate.objects.get()
    response = client.post(
        "/cases/new/", {"title": "From template", "priority": "2", "tlp": "AMBER", "template": str(template.pk)}
    )
    case = response.wsgi_request and __import__("cases.models", fromlist=["Case"]).Case.objects.get(
        title="From template"
    )
    assert sorted(case.tasks.values_list("title", flat=True)) == ["Preserve account data", "Request subscriber info"]
    assert case.tasks.get(title="Preserve account data").due_date is not None
