"""Every consultation and disclosure records its purpose (and a disclosure its recipients).

The list of consultation and disclosure actions is fixed here, derived from audit/actions.py by
verb. The first test fails when an action with such a verb is added to audit/actions.py without
being listed (and so triggered) below; the second triggers every listed action through its real
path (web page, API, service, partner API) and checks the entries it wrote. A new path that
writes one of these actions without a purpose fails the second test.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import Action
from audit.integrator import audit_checkpoint_now
from cases import services as case_services
from cases import sharing
from cases.access import Access
from cases.models import Attachment, CaseRole, Lead, LeadShareRequest
from exchange.models import Bundle, Partner, ShareRequest
from exchange.services import agreement_set, partner_token_issue, share_decide, share_request
from hashsets.models import HashSet
from hashsets.pdq_service import pdq_index_reset
from tests.conftest import login_verified
from tests.retention.conftest import ctx, entries

pytestmark = pytest.mark.django_db

# Every action whose verb reads, lists, searches, exports, shares, sends or looks up data.
CONSULTATION_AND_DISCLOSURE = {
    "case.view", "case.list", "case.search", "case.export", "evidence.view", "attachment.view",
    "lead.view", "lead.list", "hashset.view", "hashset.export", "hash.lookup", "hash.match_pdq",
    "audit.view", "audit.export", "share.request", "share.approve", "bundle.send", "bundle.pull",
    "bundle.receive", "bundle.apply", "retention.queue_view", "retention.report", "deconfliction.usage_view",
    "operator.view",
    # reads the route layer records when the view writes nothing more specific (audit/routes.py)
    "user.list", "audit.proof", "page.view", "partner.view", "share.list", "bundle.list", "retention.view",
}  # fmt: skip
DISCLOSURES = {"share.request", "share.approve", "bundle.send", "bundle.pull"}  # these also name recipients
# Listed in audit/actions.py but written by no code path yet: the first test keeps it that way.
NOT_WRITTEN_ANYWHERE = {"hashset.publish"}
VERB = re.compile(
    r"\.(\w+_)?(view|list|search|export|share|send|lookup|match\w*|proof|pull|report|publish|download|receive|apply"
    r"|request|approve)$"
)
SOURCE_DIRS = ["agencies", "audit", "casebridge", "cases", "exchange", "hashsets", "retention"]


def test_the_list_covers_every_consultation_and_disclosure_action():
    by_verb = {str(action.value) for action in Action if VERB.search(str(action.value))}
    assert by_verb == CONSULTATION_AND_DISCLOSURE | NOT_WRITTEN_ANYWHERE, (
        "a consultation or disclosure action was added or removed: list it in CONSULTATION_AND_DISCLOSURE "
        f"and trigger it below. Unlisted: {sorted(by_verb - CONSULTATION_AND_DISCLOSURE - NOT_WRITTEN_ANYWHERE)}"
    )
    root = Path(__file__).resolve().parents[2]
    names = {str(action.value): action.name for action in Action}
    for value in NOT_WRITTEN_ANYWHERE:
        for directory in SOURCE_DIRS:
            for path in (root / directory).rglob("*.py"):
                if path.name == "actions.py" and path.parent.name == "audit":
                    continue
                text = path.read_text(encoding="utf-8")
                assert f"Action.{names[value]}" not in text and f'"{value}"' not in text, (
                    f"{path} now writes {value}: move it to CONSULTATION_AND_DISCLOSURE and trigger it below"
                )


def _new_entries(action: str, seen: dict[str, int]) -> list[dict]:
    found = entries(action)
    fresh = found[seen.get(action, 0) :]
    seen[action] = len(found)
    return fresh


def test_every_consultation_and_disclosure_path_records_a_purpose(
    api_client, alice, bob, sam, audrey, adam, carl, agency_a, agency_b, partnership,
    tmp_path, settings, django_capture_on_commit_callbacks,
):  # fmt: skip
    from tests.cases.conftest import import_set

    a_to_b, _ = partnership
    client = api_client
    operator = get_user_model().objects.create_superuser("nodeop", "op@example.org", "an-operator-passphrase-2026")
    TOTPDevice.objects.create(user=operator, name="op", confirmed=True)
    # --- data: a case with evidence, a lead and an attachment; a hash set with a PDQ item ---------
    case = case_services.case_create(acting_user=alice, title="Operation Lantern", description="x")
    write = ctx(alice, case, Access.WRITE)
    case_services.case_member_set(
        acting_user=alice, context=ctx(alice, case, Access.MANAGE), username="bob", role=CaseRole.MEMBER
    )
    digest = hashlib.sha256(b"benign purpose item").hexdigest()
    case_services.evidence_add(acting_user=alice, context=write, parsed=case_services.evidence_parse_pasted(digest))
    lead = case_services.lead_create(
        acting_user=alice, context=write, title="Lead", description="d", tlp="AMBER",
        evidence_ids=list(case.evidence.values_list("pk", flat=True)),
    )  # fmt: skip
    case_services.attachment_add(
        acting_user=alice, context=write, upload=SimpleUploadedFile("memo.txt", b"benign memo\n", "text/plain")
    )
    base = np.random.default_rng(3).integers(0, 256, 32, dtype=np.uint8).tobytes()
    csv_path = tmp_path / "set.csv"
    csv_path.write_text(f"md5,pdq,pdq_quality,category\n{hashlib.md5(base).hexdigest()},{base.hex()},90,1\n")
    hashset = HashSet.objects.create(owner=agency_a, name="NSP set", tlp="GREEN")
    import_set(hashset, csv_path)
    agreement_set(
        acting_user=adam, partner=a_to_b, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=True
    )
    pdq_index_reset()

    def as_(user):
        login_verified(client, user)

    def ok(response):
        assert response.status_code in (200, 201, 202), (response.status_code, response.content[:300])
        return response

    def exchange_share():
        as_(alice)
        request, _ = share_request(
            acting_user=alice, kind="hashset.snapshot", object_type="hashset", object_id=str(hashset.pk),
            recipient_codes=["RNP"], tlp="GREEN", summary="NSP set", purpose="series deconfliction",
        )  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):  # delivered to RNP on this node
            share_decide(acting_user=sam, request=ShareRequest.objects.get(pk=request.pk), approve=True)

    def lead_share():
        share = sharing.lead_share_request(
            acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification"
        )
        with django_capture_on_commit_callbacks(execute=True):
            sharing.lead_share_approve(acting_user=sam, share=LeadShareRequest.objects.get(pk=share.pk))

    def partner_pull():
        bundle = Bundle.objects.filter(direction="out", recipient_code="RNP").first()
        token = partner_token_issue(acting_user=adam, partner=Partner.objects.get(agency=agency_a, partner=agency_b))
        client.logout()
        response = ok(client.get(f"/api/v1/exchange/bundles/{bundle.bundle_id}", HTTP_AUTHORIZATION=f"Partner {token}"))
        b"".join(response.streaming_content)

    def pdq_match():
        as_(alice)
        body = {"hashes": [{"hex": base.hex(), "quality": 90}]}
        ok(client.post("/api/v1/hashes/match/pdq", body, format="json"))

    def web(user, url):
        def trigger():
            as_(user)
            ok(client.get(url))

        return trigger

    attachment = Attachment.objects.get(case=case)
    triggers = {
        "case.view": web(alice, f"/api/v1/cases/{case.pk}"),
        "case.list": web(alice, "/api/v1/cases/"),
        "case.search": web(bob, "/api/v1/cases/?q=lantern&purpose=deconfliction"),
        "case.export": web(alice, f"/cases/{case.pk}/evidence/export.csv"),
        "evidence.view": web(bob, f"/api/v1/cases/{case.pk}/evidence"),
        "attachment.view": web(alice, f"/cases/{case.pk}/attachments/{attachment.pk}/"),
        "lead.view": web(alice, f"/api/v1/leads/{lead.pk}"),
        "lead.list": web(sam, "/api/v1/leads/"),
        "hashset.view": web(alice, f"/hashsets/{hashset.pk}/"),
        "hashset.export": web(alice, f"/hashsets/{hashset.pk}/export/?format=vics2"),
        "hash.lookup": web(alice, f"/api/v1/hashes/md5/{hashlib.md5(base).hexdigest()}"),
        "hash.match_pdq": pdq_match,
        "audit.view": web(audrey, "/audit/"),
        "audit.export": lambda: (audit_checkpoint_now(), web(audrey, "/audit/export/")()),
        "share.request": exchange_share,
        "share.approve": lead_share,
        "bundle.send": lambda: None,  # written by both shares above
        "bundle.receive": lambda: None,  # RNP received both, delivered on this node
        "bundle.apply": lambda: None,
        "bundle.pull": partner_pull,
        "retention.queue_view": web(alice, "/retention/"),
        "retention.report": web(audrey, "/retention/report/"),
        "deconfliction.usage_view": web(sam, "/cases/deconfliction/usage/"),
        "operator.view": web(operator, "/operator/"),
        "user.list": web(adam, "/agency/users/"),
        "audit.proof": web(audrey, "/api/v1/audit/proof/inclusion?index=0"),
        "page.view": web(alice, "/"),
        "partner.view": web(adam, "/exchange/"),
        "share.list": web(sam, "/cases/shares/"),
        "bundle.list": web(alice, "/exchange/bundles/out/"),
        "retention.view": web(sam, "/retention/holds/"),
    }
    assert set(triggers) == CONSULTATION_AND_DISCLOSURE
    seen: dict[str, int] = {}
    missing = []
    for action, trigger in triggers.items():
        trigger()
        written = _new_entries(action, seen)
        if not written:
            missing.append(f"{action}: its path wrote no entry")
            continue
        for entry in written:
            if not (entry["purpose"] or {}).get("code"):
                missing.append(f"{action} #{entry['index']}: no purpose")
            if action in DISCLOSURES and not entry["recipients"]:
                missing.append(f"{action} #{entry['index']}: no recipients")
    pdq_index_reset()
    assert not missing, missing
    # both share paths (exchange four eyes and lead four eyes) wrote approvals and sends with purposes
    approvals = entries("share.approve")
    assert {e["object"]["type"] for e in approvals} == {"hashset", "lead"}
    assert {e["agency"] for e in entries("bundle.receive")} == {"RNP"}
    assert all(e["purpose"]["code"] == "sharing_agreement" for e in entries("bundle.pull"))
    assert Lead.objects.filter(agency=agency_b).exists()  # the shared lead really arrived
