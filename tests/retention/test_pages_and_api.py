"""Pages and API of retention: who may see and do what; bad input refused with a clear message."""

from __future__ import annotations

import pytest

from cases.models import Case
from retention import services
from retention.models import LegalHold, RetentionRule, ReviewState, Tombstone
from tests.conftest import login_verified
from tests.retention.conftest import T0, entries

pytestmark = pytest.mark.django_db


def test_queue_page_extend_and_let_go(client, alice, bob, sam, case_a, closed_rule):
    login_verified(client, alice)
    page = client.get("/retention/").content.decode()
    assert case_a.reference in page and "Extend" in page and "Let go" in page and " style=" not in page
    assert entries("retention.queue_view")[-1]["purpose"] == {"code": "retention_review"}
    form = {"kind": "case", "object_id": case_a.pk, "decision": "extend", "review_on": "2099-01-01", "reason": ""}
    response = client.post("/retention/review/", form, follow=True)
    assert "needs a reason" in response.content.decode() and not ReviewState.objects.exists()
    form["reason"] = "Appeal pending"
    response = client.post("/retention/review/", {**form, "review_on": "2027-01-01"}, follow=True)
    assert "Extended: next review on 2027-01-01" in response.content.decode()
    assert ReviewState.objects.get().decision == "extended"
    login_verified(client, bob)
    assert case_a.reference not in client.get("/retention/").content.decode()  # not bob's case to review
    response = client.post("/retention/review/", {**form, "decision": "release"}, follow=True)
    assert "among the records you review" in response.content.decode()
    login_verified(client, sam)
    response = client.post("/retention/review/", {**form, "decision": "release"}, follow=True)
    assert "Let go" in response.content.decode() and ReviewState.objects.get().decision == "released"
    response = client.post("/retention/erase/", {"kind": "case", "object_id": case_a.pk}, follow=True)
    assert "erased; its tombstone is kept" in response.content.decode()
    assert client.get("/retention/tombstones/").content.decode().count(case_a.reference) == 1


def test_rules_page_for_admins_and_read_only_for_others(client, adam, sam, alice, settings):
    settings.AUDIT_RETENTION_DAYS = 1000
    login_verified(client, adam)
    page = client.get("/retention/rules/").content.decode()
    assert "No rule yet for" in page and "Save rule" in page
    bad = {"kind": "case", "status": "closed", "review_after_days": 30, "erase_after_days": 2000}
    response = client.post("/retention/rules/", bad)
    assert response.status_code == 400 and "AUDIT_RETENTION_DAYS = 1000" in response.content.decode()
    response = client.post("/retention/rules/", {**bad, "erase_after_days": 365}, follow=True)
    assert "Rule saved" in response.content.decode() and RetentionRule.objects.count() == 1
    login_verified(client, sam)
    page = client.get("/retention/rules/").content.decode()
    assert "365 days" in page and "Save rule" not in page
    assert client.post("/retention/rules/", {**bad, "erase_after_days": 10}).status_code == 403
    login_verified(client, alice)
    assert client.get("/retention/rules/").status_code == 403
    assert RetentionRule.objects.get().erase_after_days == 365


def test_nav_link_fits_the_role(client, alice, audrey, adam):
    for user, text in ((alice, "Retention review"), (audrey, "Purpose report"), (adam, "Retention rules")):
        login_verified(client, user)
        assert text in client.get("/").content.decode()


def test_api_rules_queue_reviews_erasure_and_holds(api_client, adam, alice, sam, charlie, case_a, closed_rule):
    login_verified(api_client, adam)
    made = api_client.post(
        "/api/v1/retention/rules", {"kind": "lead", "review_after_days": 10, "erase_after_days": 5}, format="json"
    )
    assert made.status_code == 400 and "comes before the review" in made.json()["detail"]
    assert api_client.get("/api/v1/retention/rules").json()["count"] == 1

    login_verified(api_client, alice)
    queue = api_client.get("/api/v1/retention/queue").json()
    assert [(r["kind"], r["object_id"], r["case_reference"]) for r in queue["results"]] == [
        ("case", case_a.pk, case_a.reference)
    ]
    no_reason = api_client.post(
        "/api/v1/retention/reviews",
        {"kind": "case", "object_id": case_a.pk, "decision": "extend", "review_on": "2099-01-01"},
        format="json",
    )
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.json()["detail"]
    assert api_client.post(
        f"/api/v1/retention/cases/{case_a.pk}/legal-hold", {"reason": "x"}, format="json"
    ).status_code == 403  # fmt: skip

    login_verified(api_client, charlie)
    assert api_client.get("/api/v1/retention/queue").json()["count"] == 0
    assert api_client.post(
        f"/api/v1/retention/cases/{case_a.pk}/legal-hold", {"reason": "x"}, format="json"
    ).status_code == 404  # fmt: skip
    refused = api_client.post("/api/v1/retention/erasures", {"kind": "case", "object_id": case_a.pk}, format="json")
    assert refused.status_code == 403

    login_verified(api_client, sam)
    hold = api_client.post(f"/api/v1/retention/cases/{case_a.pk}/legal-hold", {"reason": "Order 5"}, format="json")
    assert hold.status_code == 201 and hold.json()["case_reference"] == case_a.reference
    assert api_client.get("/api/v1/retention/legal-holds").json()["count"] == 1
    Case.objects.filter(pk=case_a.pk).update(updated_at=T0.replace(year=2000))
    erase = api_client.post("/api/v1/retention/erasures", {"kind": "case", "object_id": case_a.pk}, format="json")
    assert erase.status_code == 409 and "under legal hold" in erase.json()["detail"]
    assert Case.objects.filter(pk=case_a.pk).exists()
    lift = api_client.post(f"/api/v1/retention/cases/{case_a.pk}/legal-hold/lift", {"reason": ""}, format="json")
    assert lift.status_code == 400 and "needs a reason" in lift.json()["detail"]
    api_client.post(f"/api/v1/retention/cases/{case_a.pk}/legal-hold/lift", {"reason": "Done"}, format="json")
    assert not LegalHold.objects.filter(lifted_at__isnull=True).exists()
    erase = api_client.post("/api/v1/retention/erasures", {"kind": "case", "object_id": case_a.pk}, format="json")
    assert erase.status_code == 201 and erase.json()["kind"] == "case" and erase.json()["erased_by"] == "sam"
    tombstones = api_client.get("/api/v1/retention/tombstones").json()
    assert tombstones["count"] == 1 and Tombstone.objects.get().label == f"Case {case_a.reference}"
    unknown = api_client.post("/api/v1/retention/erasures", {"kind": "photo", "object_id": 1}, format="json")
    assert unknown.status_code == 400 and "Unknown kind of record" in unknown.json()["detail"]


def test_sweep_service_and_tombstones_are_agency_scoped(sam, charlie, carl, case_a, closed_rule):
    services.retention_sweep(now=T0.replace(year=2027))
    assert Tombstone.objects.count() == 1
    from retention.selectors import tombstones_of

    assert tombstones_of(user=sam).count() == 1 and tombstones_of(user=carl).count() == 0
    assert tombstones_of(user=charlie).count() == 0
