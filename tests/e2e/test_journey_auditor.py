"""Auditor: filter the log, open an entry with its inclusion proof, export a range (with proofs
that verify here), run the verification in the UI, see the checkpoint with a partner's cosignature."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone
from playwright.sync_api import expect

from audit import merkle, note
from audit.integrator import audit_checkpoint_now
from audit.models import AuditCosignature, AuditEntry
from cases import services
from hashsets.models import HashSet

pytestmark = pytest.mark.browser

WITNESS = "witness.rivermark-node.example"


def _partner_cosigns(checkpoint) -> None:
    """What a partner node's witness stores with us after checking consistency (exchange.witness)."""
    key = Ed25519PrivateKey.generate()
    line = note.cosignature_sign(
        note.note_open(checkpoint.note)[0], name=WITNESS, private_key=key, timestamp=int(time.time())
    )
    AuditCosignature.objects.create(
        checkpoint_size=checkpoint.size,
        witness=WITNESS,
        vkey=note.cosigner_vkey(WITNESS, key.public_key()),
        line=line,
        created_at=timezone.now(),
    )


def test_auditor_reviews_exports_and_verifies(server, logged_in, screenshot, alice, audrey, agency_a):
    # Some audited work by an investigator: a case opened and edited, a hash set made.
    case = services.case_create(acting_user=alice, title="Operation Lantern", description="For the auditor journey")
    HashSet.objects.create(owner=agency_a, name="NSP known material")
    page = logged_in(audrey)
    audit_checkpoint_now()  # on a running node the integrator does this within a second
    page.reload()
    expect(page.get_by_text(re.compile(r"Tree size \d+, latest signed checkpoint"))).to_be_visible()
    screenshot(page, "auditor-dashboard")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Stacked bar chart of audit entries"))).to_be_visible()
    filters = page.get_by_role("form", name="Filter the audit log")
    filters.get_by_label("Action").fill("case")
    filters.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    expect(rows.first).to_be_visible()
    actions = {text.strip() for text in rows.locator("td.mono").all_inner_texts()}
    assert actions and all(a.startswith("case.") for a in actions), actions
    screenshot(page, "auditor-log-filtered")

    # One object's history: everything about this case.
    filters.get_by_label("Action").fill("")
    filters.get_by_label("Object type").fill("case")
    filters.get_by_label("Object id").fill(str(case.pk))
    filters.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_text="case.create")).to_have_count(1)
    entry = AuditEntry.objects.get(action="case.create", object_id=str(case.pk))

    # The export of this range: each entry with its proof against the latest checkpoint.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export this range (with proofs)").click()
    document = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert download.value.suggested_filename.startswith("audit-range-")
    assert document["filters"] == {"object_type": "case", "object_id": str(case.pk)}
    root = base64.b64decode(document["checkpoint"]["note"].split("\n")[2])
    assert document["entries"]
    for record in document["entries"]:
        path = [bytes.fromhex(h) for h in record["inclusion_path"]]
        leaf = merkle.leaf_hash(record["entry"].encode())
        assert merkle.verify_inclusion(leaf, record["index"], document["checkpoint"]["size"], path, root)

    page.get_by_role("link", name=str(entry.index), exact=True).click()
    expect(page.get_by_role("heading", name=f"Audit entry {entry.index}")).to_be_visible()
    expect(page.get_by_role("heading", name="Inclusion proof")).to_be_visible()
    expect(page.get_by_text(re.compile(rf"Entry {entry.index} is included in the tree of size \d+"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"\b1 hashes\b"))).to_have_count(0)
    expect(page.locator("pre")).to_contain_text('"action": "case.create"')
    screenshot(page, "auditor-entry-proof")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verification").click()
    page.get_by_role("button", name=re.compile(r"^Run verification now")).click()
    result = page.get_by_role("status").filter(has_text="Verified")
    expect(result.get_by_role("heading", name="Verified")).to_be_visible(timeout=30_000)
    expect(result).to_contain_text("nothing was changed, removed or reordered")
    screenshot(page, "auditor-verified")

    # A partner node's witness cosigns the latest checkpoint (exchange.witness, every few minutes).
    latest = audit_checkpoint_now()
    _partner_cosigns(latest)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_role("link", name="details").click()
    expect(page.get_by_role("heading", name="Latest signed checkpoint")).to_be_visible()
    expect(page.locator("dl.meta")).to_contain_text(str(latest.size))
    cosigned = page.locator("table", has=page.get_by_role("columnheader", name="Witness"))
    expect(cosigned.get_by_role("cell", name=WITNESS)).to_be_visible()
    screenshot(page, "auditor-checkpoint")
