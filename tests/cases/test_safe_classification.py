"""Issue 15, safe classification on the triage page: no default category, a server-side
confirmation step above five items, and an exact, audited undo of a bulk change (its author and
the agency's supervisors only; items classified again since are left as they are)."""

from __future__ import annotations

import hashlib

import pytest

from casebridge.errors import CasebridgeError, NotFoundError
from cases import services
from cases.access import Access
from cases.models import ClassificationBatch, EvidenceItem
from hashsets.models import Classification, HashSetPublication
from tests.cases.conftest import ctx, entries

pytestmark = pytest.mark.django_db


def _add(user, case, n: int, start: int = 0) -> list[int]:
    hashes = "\n".join(hashlib.md5(f"benign {i}".encode()).hexdigest() for i in range(start, start + n))
    services.evidence_add(
        acting_user=user, context=ctx(user, case, Access.WRITE), parsed=services.evidence_parse_pasted(hashes)
    )
    return list(EvidenceItem.objects.filter(case=case).order_by("pk").values_list("pk", flat=True))[start:]


def _classify(user, case, ids, category, **extra) -> ClassificationBatch:
    services.evidence_classify(
        acting_user=user, context=ctx(user, case, Access.WRITE), item_ids=ids, category=category, **extra
    )
    return ClassificationBatch.objects.filter(case=case).latest("created_at")


def _state(ids) -> dict[int, tuple]:
    """Per item: its own classification (category, victim, retracted) or None, and its match state."""
    out = {}
    for item in EvidenceItem.objects.filter(pk__in=ids).order_by("pk"):
        row = (
            Classification.objects.filter(hashset__name="NSP case classifications", media__md5=item.md5)
            .values_list("category", "victim_identified", "retracted_at")
            .first()
        )
        out[item.pk] = (row, item.match_state, item.category)
    return out


def test_c15_no_default_category(client, as_user, alice, case_a):
    ids = _add(alice, case_a, 3)
    as_user(alice)
    page = client.get(f"/cases/{case_a.pk}/evidence/").content.decode()
    # the empty choice comes first and is the one selected
    assert '<option value="" selected>Choose a category</option>' in page
    response = client.post(f"/cases/{case_a.pk}/evidence/", {"items": ids, "victim_identified": ""}, follow=True)
    assert "Choose a category: no item was changed." in response.content.decode()
    # an empty category with the confirmation already given is refused the same way
    client.post(f"/cases/{case_a.pk}/evidence/", {"items": ids, "category": "", "confirm": "yes"})
    assert not Classification.objects.exists() and not ClassificationBatch.objects.exists()
    assert EvidenceItem.objects.filter(case=case_a, match_state="unknown").count() == 3


def test_c15_more_than_five_items_need_confirmation(client, as_user, alice, case_a):
    ids = _add(alice, case_a, 6)
    as_user(alice)
    data = {"items": ids, "category": "non_pertinent", "victim_identified": "no", "series": "Series Wren"}
    response = client.post(f"/cases/{case_a.pk}/evidence/", data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Classify <strong>6 items</strong> as <strong>" in page and "Non-pertinent" in page.replace("‐", "-")
    assert 'name="confirm" value="yes"' in page and "<script>" not in page
    assert page.count('name="items"') == 6
    # nothing changed before the confirmation
    assert not Classification.objects.exists() and not ClassificationBatch.objects.exists()
    assert not entries("evidence.classify")
    response = client.post(f"/cases/{case_a.pk}/evidence/", {**data, "confirm": "yes"}, follow=True)
    assert "6 items classified" in response.content.decode()
    assert EvidenceItem.objects.filter(case=case_a, match_state="known", category="non_pertinent").count() == 6
    assert Classification.objects.filter(victim_identified=False).count() == 6


def test_c15_five_items_need_no_confirmation(client, as_user, alice, case_a):
    ids = _add(alice, case_a, 5)
    as_user(alice)
    response = client.post(f"/cases/{case_a.pk}/evidence/", {"items": ids, "category": "csam_c"}, follow=True)
    assert "5 items classified" in response.content.decode()
    assert Classification.objects.count() == 5


def test_c15_undo_restores_previous_classifications(client, as_user, alice, case_a):
    ids = _add(alice, case_a, 3)
    first = _classify(alice, case_a, ids[:1], "csam_b", victim_identified=True)
    before = _state(ids)
    batch = _classify(alice, case_a, ids, "non_pertinent", victim_identified=False, series="Series Wren")
    assert batch.entries.count() == 3 and batch != first
    assert all(row[0][0] == "non_pertinent" for row in _state(ids).values())

    as_user(alice)
    page = client.get(f"/cases/{case_a.pk}/evidence/").content.decode()
    assert "Last bulk change" in page and f"/evidence/classified/{batch.pk}/undo/" in page
    response = client.post(f"/cases/{case_a.pk}/evidence/classified/{batch.pk}/undo/", follow=True)
    assert "Classification of 3 items undone." in response.content.decode()

    after = _state(ids)
    assert after == before
    assert after[ids[0]][0][:2] == ("csam_b", True) and after[ids[0]][1:] == ("known", "csam_b")
    assert after[ids[1]] == (None, "unknown", "")  # no classification before: the row is gone
    # the series the batch linked is unlinked again
    assert not Classification.objects.filter(series__name="Series Wren").exists()
    batch.refresh_from_db()
    assert batch.undone_at is not None and batch.undone_by == alice
    undone = entries("evidence.classify_undo")
    assert len(undone) == 1
    assert undone[0]["details"]["restored"] == 3 and undone[0]["details"]["batch"] == batch.pk
    # a second undo of the same change is refused with a sentence
    with pytest.raises(CasebridgeError, match="already undone"):
        services.classification_bulk_undo(acting_user=alice, batch=batch)


def test_c15_undo_leaves_items_classified_again_since(alice, bob, case_a):
    ids = _add(alice, case_a, 2)
    batch = _classify(alice, case_a, ids, "csam_c")
    _classify(bob, case_a, ids[1:], "csam_a")
    result = services.classification_bulk_undo(acting_user=alice, batch=batch)
    assert (result.restored, result.skipped) == (1, 1)
    assert "1 item was classified again since this change and left as they are." in result.message
    state = _state(ids)
    assert state[ids[0]][0] is None and state[ids[1]][0][0] == "csam_a"


def test_c15_undo_retracts_rows_a_partner_already_received(alice, case_a):
    ids = _add(alice, case_a, 1)
    batch = _classify(alice, case_a, ids, "csam_c")
    HashSetPublication.objects.create(hashset=batch.hashset, recipient_code="RNP", version=1, kind="delta")
    services.classification_bulk_undo(acting_user=alice, batch=batch)
    row = Classification.objects.get()
    # removing it would leave the partner's copy standing: a tombstone travels with the next delta
    assert row.retracted_at is not None and row.updated_at > batch.created_at
    assert EvidenceItem.objects.get(pk=ids[0]).match_state == "unknown"


def test_c15_supervisor_may_undo(client, as_user, alice, sam, case_a):
    ids = _add(alice, case_a, 2)
    batch = _classify(alice, case_a, ids, "csam_c")
    as_user(sam)
    assert f"/evidence/classified/{batch.pk}/undo/" in client.get(f"/cases/{case_a.pk}/evidence/").content.decode()
    response = client.post(f"/cases/{case_a.pk}/evidence/classified/{batch.pk}/undo/")
    assert response.status_code == 302 and not Classification.objects.exists()


@pytest.mark.parametrize("persona", ["bob", "charlie"])
def test_c15_others_cannot_undo(request, client, as_user, alice, case_a, persona):
    """bob: an investigator of the same case who did not make the change; charlie: another agency."""
    ids = _add(alice, case_a, 2)
    batch = _classify(alice, case_a, ids, "csam_c")
    user = request.getfixturevalue(persona)
    as_user(user)
    if persona == "bob":
        page = client.get(f"/cases/{case_a.pk}/evidence/").content.decode()
        assert "Last bulk change" not in page
    response = client.post(f"/cases/{case_a.pk}/evidence/classified/{batch.pk}/undo/")
    assert response.status_code == 404
    assert Classification.objects.filter(category="csam_c").count() == 2
    batch.refresh_from_db()
    assert batch.undone_at is None
    if persona == "bob":
        # the refusal is audited, and survives the 404
        denied = [e for e in entries("access.denied") if e["object"]["type"] == "classification_batch"]
        assert len(denied) == 1 and denied[0]["object"]["id"] == str(batch.pk)
    with pytest.raises(NotFoundError):
        services.classification_bulk_undo(acting_user=user, batch=batch)
    assert not entries("evidence.classify_undo")


def test_c15_undo_of_another_cases_batch_is_404(client, as_user, alice, case_a):
    ids = _add(alice, case_a, 1)
    batch = _classify(alice, case_a, ids, "csam_c")
    other = services.case_create(acting_user=alice, title="Other case")
    as_user(alice)
    response = client.post(f"/cases/{other.pk}/evidence/classified/{batch.pk}/undo/")
    assert response.status_code == 404 and Classification.objects.count() == 1
