"""Evidence: digests only, matched at once against the agency's hash sets (exact and PDQ)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from casebridge.errors import CasebridgeError
from cases import services
from cases.access import Access
from cases.models import EvidenceItem
from hashsets.models import Classification, HashSet, Media
from hashsets.pdq_service import pdq_index_reset
from tests.cases.conftest import ctx, entries, import_set
from tests.hashsets.factories import digests, vics2_file, vics2_records

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_pdq_index():
    pdq_index_reset()
    yield
    pdq_index_reset()


@pytest.fixture
def known_sets(tmp_path, agency_a, agency_b):
    nsp = HashSet.objects.create(owner=agency_a, name="NSP known")
    import_set(nsp, vics2_file(tmp_path / "nsp.json", vics2_records(10, category=1, series="Series Alpha")))
    rnp = HashSet.objects.create(owner=agency_b, name="RNP known")
    import_set(rnp, vics2_file(tmp_path / "rnp.json", vics2_records(3, category=0)))  # other opinion of items 0..2
    nsp.shared_with.add(agency_b)
    rnp.shared_with.add(agency_a)
    return nsp, rnp


def test_pasted_hashes_match_known_and_unknown_with_disagreement(alice, case_a, known_sets):
    unknown = hashlib.sha256(b"never seen").hexdigest()
    text = "\n".join([digests(0)["MD5"], digests(5)["SHA1"].lower(), "# a comment", "", unknown])
    result = services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(text)
    )
    assert (result.added, result.known, result.unknown) == (3, 2, 1)
    item0 = EvidenceItem.objects.get(case=case_a, md5=bytes.fromhex(digests(0)["MD5"]))
    assert item0.match_state == "known" and item0.category == "csam_ungraded" and item0.disagree is True
    item5 = EvidenceItem.objects.get(case=case_a, sha1=bytes.fromhex(digests(5)["SHA1"]))
    assert item5.disagree is False and item5.victim_identified is False
    from cases.selectors import evidence_classifications

    seen = evidence_classifications(user=alice, items=[item0])[item0.pk]
    assert {c["agency"] for c in seen} == {"NSP", "RNP"}
    assert ["Series Alpha"] in [c["series"] for c in seen]
    again = services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(text)
    )
    assert again.added == 0 and again.duplicates == 3
    added = entries("evidence.add")
    assert added[0]["details"]["known"] == 2 and added[0]["purpose"] == {"code": "case", "case": case_a.reference}


@pytest.mark.parametrize(
    "text,message",
    [
        ("abc", "line 1: 'abc' has 3 characters"),
        ("a" * 32 + "\n" + "z" * 40, "line 2: " + repr("z" * 40) + " is not hexadecimal"),
        ("pdq:" + "0" * 63, "line 1: a PDQ digest has 64"),
        ("pdq:" + "0" * 64 + ":101", "quality must be a whole number from 0 to 100"),
        ("\n# only comments\n", "No digest found"),
    ],
)
def test_bad_digests_are_refused_naming_the_line(alice, case_a, text, message):
    with pytest.raises(CasebridgeError) as exc:
        services.evidence_parse_pasted(text)
    assert message in exc.value.message
    assert not EvidenceItem.objects.exists()


def test_bad_digest_through_the_api_changes_nothing(api_client, alice, case_a):
    from tests.conftest import login_verified

    login_verified(api_client, alice)
    response = api_client.post(
        f"/api/v1/cases/{case_a.pk}/evidence", {"hashes": "a" * 32 + "\nnot-a-hash"}, format="json"
    )
    assert response.status_code == 400 and "line 2" in response.json()["detail"]
    assert response["Content-Type"] == "application/problem+json"
    assert not EvidenceItem.objects.exists()


def test_vics_and_manifest_uploads(client, as_user, alice, case_a, known_sets, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    as_user(alice)
    vics = vics2_file(tmp_path / "seized.json", vics2_records(4, salt="seized"))
    with vics.open("rb") as handle:
        response = client.post(f"/cases/{case_a.pk}/evidence/add/", {"mode": "upload", "file": handle})
    assert response.status_code == 302
    assert EvidenceItem.objects.filter(case=case_a, source="vics2").count() == 4
    manifest = tmp_path / "manifest.csv"
    rows = ["md5,sha1,sha256,size,media_type,pdq,pdq_quality,pdq_hasher,error"]
    for n in range(3):
        d = digests(n)
        rows.append(
            f"{d['MD5'].lower()},{d['SHA1'].lower()},{hashlib.sha256(str(n).encode()).hexdigest()},100,image,,,,"
        )
    rows.append(",,,,,,,,permission denied")
    manifest.write_text("\n".join(rows) + "\n")
    with manifest.open("rb") as handle:
        response = client.post(f"/cases/{case_a.pk}/evidence/add/", {"mode": "upload", "file": handle}, follow=True)
    page = response.content.decode()
    assert "3 items added: 3 known" in page and "1 manifest rows skipped" in page
    assert EvidenceItem.objects.filter(case=case_a, source="manifest").count() == 3
    triage = client.get(f"/cases/{case_a.pk}/evidence/?state=known")
    assert triage.status_code == 200 and "csam_ungraded" in triage.content.decode()
    assert not list((tmp_path / "uploads" / "evidence-uploads").iterdir())  # the upload is not kept


def test_pdq_near_match_of_an_evidence_item(alice, case_a, agency_a, tmp_path):
    rng = np.random.default_rng(7)
    known = rng.integers(0, 256, size=32, dtype=np.uint8)
    near = known.copy()
    near[0] ^= 0b00000111  # 3 bits away
    far = (~known).astype(np.uint8)  # 256 bits away
    hashset = HashSet.objects.create(owner=agency_a, name="PDQ set")
    path = tmp_path / "pdq.csv"
    path.write_text(f"sha256,pdq,pdq_quality,category,scheme\n{'1' * 64},{known.tobytes().hex()},90,1,vic_us\n")
    import_set(hashset, path)
    text = f"pdq:{near.tobytes().hex()}:80\npdq:{far.tobytes().hex()}:80\npdq:{(near ^ 1).tobytes().hex()}:10"
    result = services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(text)
    )
    assert (result.near, result.unknown) == (1, 2)  # low quality (10) is never searched
    item = EvidenceItem.objects.get(case=case_a, match_state="near")
    assert item.pdq_distance == 3 and item.category == "csam_ungraded"
    assert item.media_id == Media.objects.get(sha256=bytes.fromhex("1" * 64)).pk


def test_classification_lands_in_the_agency_case_set_and_helps_the_next_case(alice, bob, case_a):
    text = hashlib.md5(b"new item").hexdigest()
    services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(text)
    )
    item = EvidenceItem.objects.get(case=case_a)
    assert item.match_state == "unknown"
    count = services.evidence_classify(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), item_ids=[item.pk], category="csam_b",
        victim_identified=False, series="Series Kestrel",
    )  # fmt: skip
    assert count == 1
    classification = Classification.objects.get()
    assert classification.hashset.name == "NSP case classifications" and classification.hashset.owner.code == "NSP"
    assert classification.category == "csam_b" and [s.name for s in classification.series.all()] == ["Series Kestrel"]
    item.refresh_from_db()
    assert item.match_state == "known" and item.category == "csam_b"
    assert case_a.series.filter(name="Series Kestrel").exists()
    second = services.case_create(acting_user=bob, title="Next case")
    result = services.evidence_add(
        acting_user=bob, context=ctx(bob, second, Access.WRITE), parsed=services.evidence_parse_pasted(text)
    )
    assert result.known == 1
    with pytest.raises(CasebridgeError, match="Unknown category"):
        services.evidence_classify(
            acting_user=alice, context=ctx(alice, case_a, Access.WRITE), item_ids=[item.pk], category="bad"
        )
    classified = entries("evidence.classify")
    assert classified[0]["details"]["items"] == 1 and classified[0]["details"]["category"] == "csam_b"


def test_triage_page_bulk_classifies(client, as_user, alice, case_a):
    hashes = "\n".join(hashlib.md5(str(n).encode()).hexdigest() for n in range(5))
    services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(hashes)
    )
    as_user(alice)
    page = client.get(f"/cases/{case_a.pk}/evidence/?state=unknown&size=50").content.decode()
    assert "5 items" in page or "5 item" in page
    ids = list(EvidenceItem.objects.filter(case=case_a).values_list("pk", flat=True))[:3]
    response = client.post(
        f"/cases/{case_a.pk}/evidence/",
        {"items": ids, "category": "non_pertinent", "victim_identified": ""},
        follow=True,
    )
    assert "3 items classified" in response.content.decode()
    assert EvidenceItem.objects.filter(case=case_a, match_state="known").count() == 3
    export = client.get(f"/cases/{case_a.pk}/evidence/export.csv")
    assert export.status_code == 200 and export.content.decode().count("\n") == 6
