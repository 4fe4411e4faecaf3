from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from hashsets.models import HashSet
from hashsets.pdq_service import pdq_index_reset
from hashsets.services import hashset_import_run, import_job_create
from tests.conftest import login_verified
from tests.hashsets.factories import digests, vics2_file, vics2_records

pytestmark = pytest.mark.django_db


def _import(hashset, path):
    job = import_job_create(
        acting_user=None, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    assert job.status == "done", job.error
    return job


@pytest.fixture
def sets(tmp_path, agency_a, agency_b):
    nsp = HashSet.objects.create(owner=agency_a, name="NSP set")
    rnp = HashSet.objects.create(owner=agency_b, name="RNP set")
    _import(nsp, vics2_file(tmp_path / "a.json", vics2_records(20, category=1)))
    _import(rnp, vics2_file(tmp_path / "b.json", vics2_records(5, category=0)))  # same items 0..4, other opinion
    return nsp, rnp


def _lookup(api_client, items):
    return api_client.post("/api/v1/hashes/lookup", {"hashes": items}, format="json")


def test_single_lookup_shows_own_agency_classification(api_client, alice, sets):
    login_verified(api_client, alice)
    response = api_client.get(f"/api/v1/hashes/md5/{digests(7)['MD5']}")
    assert response.status_code == 200
    body = response.json()
    assert body["known"] and [c["agency"] for c in body["classifications"]] == ["NSP"]


def test_other_agency_sees_only_what_is_shared_with_it(api_client, charlie, sets):
    login_verified(api_client, charlie)
    body = api_client.get(f"/api/v1/hashes/md5/{digests(7)['MD5']}").json()
    assert not body["known"]  # NSP's opinion of item 7 is not RNP's to see
    nsp, _ = sets
    nsp.shared_with.add(charlie.membership.agency)
    body = api_client.get(f"/api/v1/hashes/md5/{digests(3)['MD5']}").json()
    assert {c["agency"] for c in body["classifications"]} == {"NSP", "RNP"}
    assert body["agencies_disagree"] is True


def test_batch_lookup_of_mixed_algorithms_is_constant_in_queries(api_client, alice, sets):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login_verified(api_client, alice)
    items = [{"algorithm": "md5", "hex": digests(n)["MD5"]} for n in range(20)]
    items += [{"algorithm": "sha1", "hex": digests(n)["SHA1"].lower()} for n in range(10)]
    items += [{"algorithm": "sha256", "hex": hashlib.sha256(b"unknown").hexdigest()}]
    small_items = [items[0], items[20], items[30]]  # the same three algorithms, one digest each
    _lookup(api_client, small_items)  # warm-up: the first request of a session also writes the session
    with CaptureQueriesContext(connection) as small_queries:
        small = _lookup(api_client, small_items)
    with CaptureQueriesContext(connection) as big_queries:
        response = _lookup(api_client, items)
    assert small.status_code == response.status_code == 200
    assert len(big_queries) == len(small_queries)  # joins against the batch: no query per digest
    body = response.json()
    assert body["known"] == 30 and body["unknown"] == 1
    audit_integrate()
    assert AuditEntry.objects.filter(action="hash.lookup").count() == 3  # every lookup, warm-up included


def test_bad_digest_is_a_clear_error(api_client, alice, sets):
    login_verified(api_client, alice)
    response = _lookup(api_client, [{"algorithm": "md5", "hex": "ABC"}])
    assert response.status_code == 400
    assert "hashes[0]" in response.json()["detail"] and "32 hexadecimal" in response.json()["detail"]
    response = api_client.get("/api/v1/hashes/md4/00")
    assert response.status_code == 400 and "unknown algorithm" in response.json()["detail"]


def test_batch_over_the_limit_is_refused(api_client, alice, sets, settings):
    settings.HASH_LOOKUP_MAX_BATCH = 3
    login_verified(api_client, alice)
    response = _lookup(api_client, [{"algorithm": "md5", "hex": digests(n)["MD5"]} for n in range(4)])
    assert response.status_code == 400 and "At most 3" in response.json()["detail"]


def test_lookup_budget_stops_enumeration(api_client, alice, sets, settings):
    from django.core.cache import cache

    cache.clear()
    settings.HASH_LOOKUP_DIGESTS_PER_HOUR = 25
    login_verified(api_client, alice)
    items = [{"algorithm": "md5", "hex": digests(n)["MD5"]} for n in range(10)]
    assert _lookup(api_client, items).status_code == 200
    assert _lookup(api_client, items).status_code == 200
    refused = _lookup(api_client, items)
    assert refused.status_code == 429 and "budget" in refused.json()["detail"]
    cache.clear()


def test_outsider_without_login_is_refused(api_client, sets):
    assert api_client.get(f"/api/v1/hashes/md5/{digests(1)['MD5']}").status_code in (401, 403)


def _flip(code: bytes, bits: list[int]) -> bytes:
    arr = bytearray(code)
    for bit in bits:
        arr[bit // 8] ^= 1 << (bit % 8)
    return bytes(arr)


def test_pdq_match_finds_planted_near_duplicates_within_radius(api_client, alice, agency_a, tmp_path):
    pdq_index_reset()
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    lines = ["md5,pdq,pdq_quality,category"]
    planted = {}
    for distance in (0, 1, 15, 30, 31, 32, 40):
        code = _flip(base, list(rng.choice(256, distance, replace=False)))
        planted[distance] = code
        md5 = hashlib.md5(code).hexdigest()
        lines.append(f"{md5},{code.hex()},90,1")
    path = tmp_path / "pdq.csv"
    path.write_text("\n".join(lines) + "\n")
    hashset = HashSet.objects.create(owner=agency_a, name="pdq set", scheme="vic_us")
    _import(hashset, path)
    login_verified(api_client, alice)
    response = api_client.post(
        "/api/v1/hashes/match/pdq", {"hashes": [{"hex": base.hex(), "quality": 90}]}, format="json"
    )
    assert response.status_code == 200, response.content
    found = {m["hex"]: m["distance"] for m in response.json()["results"][0]["matches"]}
    assert {planted[d].hex() for d in (0, 1, 15, 30, 31)} <= set(found)
    assert planted[32].hex() not in found and planted[40].hex() not in found
    assert found[planted[31].hex()] == 31
    low = api_client.post("/api/v1/hashes/match/pdq", {"hashes": [{"hex": base.hex(), "quality": 20}]}, format="json")
    assert low.status_code == 400 and "quality 20" in low.json()["detail"]
    pdq_index_reset()


def test_lookups_record_the_declared_purpose(api_client, alice, bob, sets):
    """The purpose travels with every lookup into the audit log; an unknown code, or a case the
    caller does not work on, is refused before anything is looked up."""
    from cases.services import case_create

    case = case_create(acting_user=alice, title="Purpose case", tlp="AMBER")
    login_verified(api_client, alice)
    md5 = digests(7)["MD5"]
    assert api_client.get(f"/api/v1/hashes/md5/{md5}").status_code == 200  # default: investigation
    assert api_client.get(f"/api/v1/hashes/md5/{md5}", {"purpose": "victim_identification"}).status_code == 200
    batch = {"hashes": [{"algorithm": "md5", "hex": md5}], "purpose_case": case.reference, "purpose_text": "lab"}
    assert api_client.post("/api/v1/hashes/lookup", batch, format="json").status_code == 200
    refused = api_client.get(f"/api/v1/hashes/md5/{md5}", {"purpose": "curiosity"})
    assert refused.status_code == 400 and "Unknown purpose" in refused.json()["detail"]
    login_verified(api_client, bob)  # same agency, not on the case
    not_his = api_client.post("/api/v1/hashes/lookup", {**batch, "purpose_text": "mine?"}, format="json")
    assert not_his.status_code == 400 and "not a member of case" in not_his.json()["detail"]

    audit_integrate()
    # the refused lookups (400) leave failure entries of their own (audit/routes.py)
    entries = AuditEntry.objects.filter(action="hash.lookup", outcome="success").order_by("index")
    purposes = [json.loads(e.canonical).get("purpose") for e in entries]
    assert purposes == [
        {"code": "investigation"}, {"code": "victim_identification"}, {"code": "case", "case": case.reference},
    ]  # fmt: skip
    assert "lab" not in AuditEntry.objects.filter(action="hash.lookup").last().canonical  # only a commitment
