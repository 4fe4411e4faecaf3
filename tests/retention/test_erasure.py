"""Erasure: content gone, tombstone kept, sensitive audit values deleted, log still verifies;
legal hold stops it; the sweep is idempotent; every kind of record can be erased."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.export import audit_export_write
from audit.integrator import audit_checkpoint_now
from audit.keys import audit_vkeys_to_pin
from audit.models import AuditEntry, AuditSensitiveValue
from audit.verify import verify_export
from casebridge.errors import CasebridgeError, ConflictError, ForbiddenError, NotFoundError
from cases import services as case_services
from cases.access import Access
from cases.models import Attachment, Case, EvidenceItem, Lead, Note, Task
from exchange.models import Bundle
from hashsets.models import Classification, HashSet, Media
from retention import selectors, services
from retention.models import LegalHold, Tombstone
from tests.conftest import login_verified
from tests.retention.conftest import T0, ctx, days, entries, make_case

pytestmark = pytest.mark.django_db


def _commitments(object_type: str, object_ids) -> set[str]:
    found = set()
    for entry in entries():
        if entry["object"]["type"] == object_type and entry["object"]["id"] in {str(i) for i in object_ids}:
            found.update(entry["commitments"].values())
    return found


@pytest.fixture
def full_case(alice, case_a):
    """case_a with a task, an identifier, evidence, a closed lead and an attachment."""
    write = ctx(alice, case_a, Access.WRITE)
    case_services.task_create(acting_user=alice, context=write, title="Call the provider", description="secret task")
    case_services.identifier_add(acting_user=alice, context=write, kind="email", value="target@example.org")
    digest = hashlib.sha256(b"benign lantern item").hexdigest()
    case_services.evidence_add(acting_user=alice, context=write, parsed=case_services.evidence_parse_pasted(digest))
    lead = case_services.lead_create(
        acting_user=alice, context=write, title="Girl in blue room", description="Unidentified",
        evidence_ids=list(case_a.evidence.values_list("pk", flat=True)), clues=[("language", "Speaks Dutch")],
    )  # fmt: skip
    Lead.objects.filter(pk=lead.pk).update(status="closed")
    upload = SimpleUploadedFile("minutes.txt", b"benign minutes of a meeting\n", content_type="text/plain")
    case_services.attachment_add(acting_user=alice, context=write, upload=upload)
    Case.objects.filter(pk=case_a.pk).update(updated_at=T0)
    return case_a


def test_erasure_leaves_a_tombstone_and_a_verifiable_log(
    alice, sam, full_case, closed_rule, tmp_path, django_capture_on_commit_callbacks
):
    case = full_case
    other = make_case(alice, "Operation Keep")
    case_services.note_create(acting_user=alice, context=ctx(alice, other, Access.WRITE), body="Keep this note")
    note_ids = list(Note.objects.filter(case=case).values_list("pk", flat=True))
    task_ids = list(Task.objects.filter(case=case).values_list("pk", flat=True))
    lead_ids = list(Lead.objects.filter(case=case).values_list("pk", flat=True))
    identifier_ids = list(case.identifiers.values_list("pk", flat=True))
    attachment = Attachment.objects.get(case=case)
    stored = Path(attachment.file.path)
    erased_commitments = (
        _commitments("case", [case.pk])
        | _commitments("note", note_ids)
        | _commitments("task", task_ids)
        | _commitments("lead", lead_ids)
        | _commitments("attachment", [attachment.pk])
        | _commitments("identifier", identifier_ids)
    )
    kept_commitments = _commitments("note", Note.objects.filter(case=other).values_list("pk", flat=True))
    assert erased_commitments and kept_commitments and stored.exists()
    assert AuditSensitiveValue.objects.filter(commitment__in=erased_commitments).count() == len(erased_commitments)
    audit_checkpoint_now()
    before = list(AuditEntry.objects.order_by("index").values_list("index", "leaf_hash"))

    assert services.retention_sweep(now=days(89)).total == 0  # not yet: the deadline is day 90
    with django_capture_on_commit_callbacks(execute=True):
        result = services.retention_sweep(now=days(90))
    assert result.erased == {"case": 1} and not result.refused

    assert not Case.objects.filter(pk=case.pk).exists()
    assert not Note.objects.filter(pk__in=note_ids).exists() and not Lead.objects.filter(pk__in=lead_ids).exists()
    assert not EvidenceItem.objects.filter(case_id=case.pk).exists() and not stored.exists()
    assert Case.objects.filter(pk=other.pk).exists()
    tombstone = Tombstone.objects.get()
    assert (tombstone.kind, tombstone.object_id, tombstone.agency.code) == ("case", case.pk, "NSP")
    assert tombstone.case_reference == case.reference and tombstone.erased_via == "retention_sweep"
    assert tombstone.erased_at == days(90) and tombstone.rule_snapshot["erase_after_days"] == 90
    assert tombstone.details["notes"] == 1 and tombstone.details["leads"] == 1 and tombstone.details["evidence"] == 1
    assert tombstone.details["sensitive_values_erased"] == len(erased_commitments)
    # the clear values are gone, the commitments stay in the untouched entries; other cases keep theirs
    assert not AuditSensitiveValue.objects.filter(commitment__in=erased_commitments).exists()
    assert AuditSensitiveValue.objects.filter(commitment__in=kept_commitments).count() == len(kept_commitments)
    after = list(AuditEntry.objects.order_by("index").values_list("index", "leaf_hash"))
    assert after[: len(before)] == before
    erased = entries("retention.erase")
    assert len(erased) == 1 and erased[0]["actor"]["name"] == "retention_sweep"
    assert erased[0]["object"] == {"type": "case", "id": str(case.pk)}
    assert erased[0]["details"]["tombstone"] == tombstone.pk and erased[0]["purpose"]["code"] == "retention_review"
    assert "Lantern" not in json.dumps(erased)

    # idempotent: a second (or late, or doubled) run erases nothing more
    assert services.retention_sweep(now=days(91)).total == 0 and Tombstone.objects.count() == 1

    audit_checkpoint_now()
    out = tmp_path / "export"
    audit_export_write(out)
    result = verify_export(out, key=audit_vkeys_to_pin())
    assert result.ok, result.failure
    assert result.entries == AuditEntry.objects.count()


def test_legal_hold_stops_review_and_erasure(alice, sam, charlie, adam, full_case, closed_rule):
    case = full_case
    services.retention_rule_set(acting_user=adam, kind="evidence", review_after_days=10, erase_after_days=20)
    with pytest.raises(ForbiddenError, match="Only a supervisor"):
        services.legal_hold_place(acting_user=alice, case_id=case.pk, reason="x")
    assert entries("access.denied")[-1]["reason"] == "only supervisors place or lift a legal hold"
    with pytest.raises(NotFoundError):
        services.legal_hold_place(acting_user=charlie, case_id=case.pk, reason="x")
    with pytest.raises(CasebridgeError, match="needs a reason"):
        services.legal_hold_place(acting_user=sam, case_id=case.pk, reason=" ")
    hold = services.legal_hold_place(acting_user=sam, case_id=case.pk, reason="Court order 2026/17", now=days(5))
    with pytest.raises(ConflictError, match="already under legal hold"):
        services.legal_hold_place(acting_user=sam, case_id=case.pk, reason="again")

    assert selectors.review_queue(user=sam, now=days(40)).items == []  # review suspended
    assert selectors.erasure_due(agency=case.agency, now=days(400)) == []
    assert services.retention_sweep(now=days(400)).total == 0
    assert Case.objects.filter(pk=case.pk).exists() and EvidenceItem.objects.filter(case=case).exists()
    with pytest.raises(services.ErasureRefused, match=r"under legal hold, placed by sam on 2026-01-06"):
        services.record_erase(acting_user=sam, kind="case", object_id=case.pk, now=days(400))
    item = EvidenceItem.objects.get(case=case)
    with pytest.raises(services.ErasureRefused, match=f"Its case {case.reference} is under legal hold"):
        services.record_erase(acting_user=sam, kind="evidence", object_id=item.pk, now=days(400))
    with pytest.raises(CasebridgeError, match="under legal hold"):
        services.review_extend(
            acting_user=sam, kind="case", object_id=case.pk, reason="x", review_on=days(500), now=days(400)
        )
    refused = entries("retention.erase")
    assert [e["outcome"] for e in refused] == ["denied", "denied"] and "legal hold" in refused[0]["reason"]

    with pytest.raises(CasebridgeError, match="needs a reason"):
        services.legal_hold_lift(acting_user=sam, case_id=case.pk, reason="")
    services.legal_hold_lift(acting_user=sam, case_id=case.pk, reason="Proceedings ended", now=days(399))
    hold.refresh_from_db()
    assert hold.lifted_by == sam and not hold.active
    placed, lifted = entries("legal_hold.place"), entries("legal_hold.lift")
    assert placed[0]["purpose"] == {"code": "case", "case": case.reference} and "reason" in placed[0]["commitments"]
    assert lifted[0]["details"]["days"] == 394 and "Court order" not in json.dumps(placed + lifted)

    result = services.retention_sweep(now=days(400))
    assert result.erased == {"case": 1}  # the evidence went with its case: one tombstone
    assert Tombstone.objects.get().kind == "case" and not LegalHold.objects.exists()


def test_the_case_page_shows_the_hold_and_its_form(client, sam, alice, full_case):
    login_verified(client, sam)
    page = client.get(f"/cases/{full_case.pk}/").content.decode()
    assert "Place on legal hold" in page
    response = client.post(f"/retention/cases/{full_case.pk}/hold/", {"reason": "Court order 2026/17"}, follow=True)
    page = response.content.decode()
    assert "Legal hold placed" in page and "Court order 2026/17" in page and "Lift the legal hold" in page
    login_verified(client, alice)
    page = client.get(f"/cases/{full_case.pk}/").content.decode()
    assert "Legal hold" in page and "Lift the legal hold" not in page and "Place on legal hold" not in page
    assert client.post(f"/retention/cases/{full_case.pk}/hold/lift/", {"reason": "x"}).status_code == 403
    login_verified(client, sam)
    client.post(f"/retention/cases/{full_case.pk}/hold/lift/", {"reason": "ended"})
    assert not LegalHold.objects.filter(lifted_at__isnull=True).exists()


def test_a_case_with_an_open_lead_is_not_erased(alice, sam, full_case, closed_rule):
    Lead.objects.filter(case=full_case).update(status="open")
    later = make_case(alice, "Operation Later", closed_at=T0)  # due too, after the blocked one
    result = services.retention_sweep(now=days(100), batch=1)  # a blocked record does not stall the rest
    assert result.erased == {"case": 1} and result.refused == {"case": 1}
    assert Case.objects.filter(pk=full_case.pk).exists() and not Case.objects.filter(pk=later.pk).exists()
    with pytest.raises(services.ErasureRefused, match="1 open victim-identification lead"):
        services.record_erase(acting_user=sam, kind="case", object_id=full_case.pk, now=days(100))


def test_manual_erasure_needs_a_supervisor_and_a_due_or_released_record(alice, sam, case_a, closed_rule):
    with pytest.raises(ForbiddenError):
        services.record_erase(acting_user=alice, kind="case", object_id=case_a.pk, now=days(31))
    with pytest.raises(services.ErasureRefused, match="not due for erasure until 2026-04-01"):
        services.record_erase(acting_user=sam, kind="case", object_id=case_a.pk, now=days(31))
    services.review_release(acting_user=alice, kind="case", object_id=case_a.pk, now=days(31))
    tombstone = services.record_erase(acting_user=sam, kind="case", object_id=case_a.pk, now=days(32))
    assert tombstone.erased_by == sam and tombstone.erased_via == "manual"
    with pytest.raises(NotFoundError):
        services.record_erase(acting_user=sam, kind="case", object_id=case_a.pk, now=days(33))


def test_evidence_classifications_and_bundles_are_erased_by_their_rules(
    alice, adam, agency_a, agency_b, case_a, tmp_path, django_capture_on_commit_callbacks
):
    from tests.cases.conftest import import_set
    from tests.hashsets.factories import vics2_file, vics2_records

    for kind, review, erase in (
        ("evidence", 10, 20),
        ("classification", 10, 20),
        ("bundle_received", 1, 7),
        ("bundle_quarantined", 1, 3),
    ):
        services.retention_rule_set(acting_user=adam, kind=kind, review_after_days=review, erase_after_days=erase)
    case_services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE),
        parsed=case_services.evidence_parse_pasted(hashlib.sha256(b"benign item").hexdigest()),
    )  # fmt: skip
    EvidenceItem.objects.filter(case=case_a).update(added_at=T0, matched_at=T0)
    hashset = HashSet.objects.create(owner=agency_a, name="NSP seized", tlp="GREEN")
    import_set(hashset, vics2_file(tmp_path / "set.json", vics2_records(3)))
    Classification.objects.filter(hashset=hashset).update(updated_at=T0)
    media = Media.objects.count()
    paths = []
    for n, state in enumerate(("applied", "quarantined")):
        path = tmp_path / f"bundle-{n}.cbb"
        path.write_bytes(b"\x89CBB benign test bytes")
        Bundle.objects.create(
            direction="in", kind="hashset.delta", sender_code="RNP", recipient_code="NSP", sequence=n + 1,
            state=state, path=str(path), size=24, header={"bundle_id": "x"}, summary="a summary",
            created_at=T0, delivered_at=T0, applied_at=T0 if state == "applied" else None,
        )  # fmt: skip
        paths.append(path)
    assert services.retention_sweep(now=days(2)).total == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retention_sweep(now=days(4)).erased == {"bundle_quarantined": 1}
        assert services.retention_sweep(now=days(20)).erased == {
            "evidence": 1, "classification": 3, "bundle_received": 1,
        }  # fmt: skip
    assert Case.objects.filter(pk=case_a.pk).exists() and not EvidenceItem.objects.exists()
    assert not Classification.objects.filter(hashset=hashset).exists() and Media.objects.count() == media
    assert not any(path.exists() for path in paths)
    # bundle rows stay (the inbox refuses a replayed id by finding them), stripped of content
    assert list(Bundle.objects.values_list("path", "header", "summary", "size")) == [("", {}, "", 0)] * 2
    assert Tombstone.objects.count() == 6
    assert services.retention_sweep(now=days(30)).total == 0


def test_the_periodic_task_is_scheduled_hourly_and_runs_the_sweep(settings, alice, case_a, closed_rule):
    from retention.tasks import retention_sweep

    schedule = settings.CELERY_BEAT_SCHEDULE["retention-sweep"]
    assert schedule["task"] == "retention.tasks.retention_sweep" and schedule["schedule"] == 3600.0
    assert 0 < schedule["options"]["expires"] <= 3600
    Case.objects.filter(pk=case_a.pk).update(updated_at=T0.replace(year=2000))
    assert retention_sweep.delay().get() == {"erased": {"case": 1}, "refused": {}, "failed": 0}
    assert not Case.objects.filter(pk=case_a.pk).exists()
