"""A populated node for the hardening tests: one object of every kind with an id in a URL, all of
agency A (NSP), made through the services so the invariants hold.

Personas (tests/conftest.py): alice is the investigator who owns everything below (case lead,
token holder, hash set importer); bob is an investigator of the same agency who is not on the
case; charlie an investigator of agency B (RNP); sam, adam and audrey are A's supervisor, agency
admin and auditor; `partner` is RNP's node presenting the partner token NSP issued to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import ClientHandler

from agencies.services import api_token_create, user_create
from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from cases import services as case_services
from cases import sharing
from cases.access import Access
from cases.models import CaseRole, ClassificationBatch
from cases.selectors import case_context
from exchange.models import Bundle, ShareRequest
from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_token_issue, partner_verify
from hashsets.models import HashSet
from hashsets.services import hashset_import_run, import_job_create
from retention.models import RetentionRule
from tests.conftest import login_verified
from tests.hashsets.factories import digests, vics2_file, vics2_records

PERSONAS = ("anon", "alice", "bob", "charlie", "sam", "adam", "audrey", "partner")


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    # PBKDF2 at Django's default cost takes most of a second per user on these machines; the
    # hardening tests do not test hashing, so a fast hasher keeps the suite in its time budget.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"
    settings.EXCHANGE_BUNDLE_DIR.mkdir()


_HANDLERS: dict[bool, ClientHandler] = {}


def fast_client(*, enforce_csrf_checks: bool = False, **options) -> Client:
    """A test client sharing one request handler: building the middleware chain once instead of per
    client matters here, as WhiteNoise scans every static file each time it is set up."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks, raise_request_exception=False, **options)
    if enforce_csrf_checks not in _HANDLERS:
        _HANDLERS[enforce_csrf_checks] = ClientHandler(enforce_csrf_checks)
    client.handler = _HANDLERS[enforce_csrf_checks]
    return client


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, Any]
    kwargs: dict[str, Any]  # URL keyword -> value naming an object of agency A
    tokens: dict[str, str] = field(default_factory=dict)  # persona -> Authorization header value

    def client(self, persona: str, **options) -> Client:
        """A test client logged in (password + one-time code) as `persona`; API tokens ride along."""
        client = fast_client(**options)
        if persona in self.users:
            login_verified(client, self.users[persona])
        if persona in self.tokens:
            client.defaults["HTTP_AUTHORIZATION"] = self.tokens[persona]
        return client

    def api_client(self, persona: str) -> Client:
        """A client that authenticates to the API with a bearer (or partner) token only: no session."""
        client = fast_client()
        if persona in self.tokens:
            client.defaults["HTTP_AUTHORIZATION"] = self.tokens[persona]
        elif persona in self.users:
            issued = api_token_create(acting_user=self.users[persona], name=f"hardening {persona}")
            self.tokens[persona] = f"Bearer {issued.secret}"
            client.defaults["HTTP_AUTHORIZATION"] = self.tokens[persona]
        return client


def _ctx(user, case, need=Access.WRITE):
    return case_context(user=user, case_id=case.pk, need=need)


@pytest.fixture
def world(alice, bob, charlie, sam, adam, audrey, carl, agency_a, agency_b, tmp_path) -> World:
    users = {"alice": alice, "bob": bob, "charlie": charlie, "sam": sam, "adam": adam, "audrey": audrey}

    # Exchange: NSP and RNP verified partners both ways, leads and hash sets up to AMBER.
    keys_a = keys_ensure(agency=agency_a)
    keys_b = keys_ensure(agency=agency_b)
    a_to_b = partner_add_from_card(acting_user=adam, card_document=keys_b.card)
    partner_verify(acting_user=adam, partner=a_to_b, signing_fingerprint=keys_b.signing_fingerprint)
    agreement_set(
        acting_user=adam, partner=a_to_b, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=True
    )
    b_to_a = partner_add_from_card(acting_user=carl, card_document=keys_a.card)
    partner_verify(acting_user=carl, partner=b_to_a, signing_fingerprint=keys_a.signing_fingerprint)
    partner_token = partner_token_issue(acting_user=adam, partner=a_to_b)  # RNP's node presents it to NSP

    bundle_path = tmp_path / "bundles" / "nsp-to-rnp.bundle"
    bundle_path.write_bytes(b"CBBUNDLE-placeholder")
    bundle = Bundle.objects.create(
        direction=Bundle.Direction.OUT, kind="hashset.delta", sender_code="NSP", recipient_code="RNP", sequence=1,
        tlp="GREEN", state=Bundle.State.PENDING, path=str(bundle_path), size=bundle_path.stat().st_size,
    )  # fmt: skip

    # Hash sets: one of NSP with five records, imported (an import job with an id).
    hashset = HashSet.objects.create(owner=agency_a, name="NSP known", scheme="vic_us", tlp="AMBER")
    path = vics2_file(tmp_path / "nsp.json", vics2_records(5, series="Series Lantern"))
    job = import_job_create(
        acting_user=alice, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    assert job.status == "done", job.error
    share_request = ShareRequest.objects.create(
        agency=agency_a, kind="hashset.snapshot", object_type="hashset", object_id=str(hashset.pk), recipients=["RNP"],
        tlp="AMBER", summary="NSP known v1", requested_by=alice,
    )  # fmt: skip

    # A case led by alice with one of everything.
    case = case_services.case_create(acting_user=alice, title="Operation Lantern", description="NSP-SECRET-DESCRIPTION")
    write = _ctx(alice, case)
    note = case_services.note_create(acting_user=alice, context=write, body="NSP-SECRET-NOTE")
    task = case_services.task_create(acting_user=alice, context=write, title="NSP-SECRET-TASK", assignee="alice")
    attachment = case_services.attachment_add(
        acting_user=alice, context=write, upload=SimpleUploadedFile("minutes.txt", b"NSP-SECRET-ATTACHMENT\n")
    )
    case_services.evidence_add(
        acting_user=alice, context=write, parsed=case_services.evidence_parse_pasted(digests(0)["MD5"])
    )
    evidence = case.evidence.get()
    # a bulk classification of the case for the undo URL (no entries: the world's evidence stays unknown)
    batch = ClassificationBatch.objects.create(case=case, hashset=hashset, created_by=alice, category="csam_c")
    lead = case_services.lead_create(
        acting_user=alice, context=write, title="NSP-SECRET-LEAD", tlp="AMBER", evidence_ids=[evidence.pk],
        clues=[("language", "NSP-SECRET-CLUE")],
    )  # fmt: skip
    lead_share = sharing.lead_share_request(
        acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification"
    )
    assert lead_share.needs_approval
    case_services.case_member_set(
        acting_user=alice, context=_ctx(alice, case, Access.MANAGE), username="sam", role=CaseRole.VIEWER
    )

    token = api_token_create(acting_user=alice, name="alice's script").token
    newcomer = user_create(acting_user=users["adam"], username="newcomer", role="investigator")
    rule = RetentionRule.objects.create(agency=agency_a, kind="lead", review_after_days=365, erase_after_days=730)

    # The audit log integrated and checkpointed: entry 0 exists and has a proof.
    audit_integrate(force_checkpoint=True)
    entry = AuditEntry.objects.order_by("index").first()

    objects = {
        "hashset": hashset, "import": job, "case": case, "note": note, "task": task, "attachment": attachment,
        "evidence": evidence, "lead": lead, "lead_share": lead_share, "share_request": share_request,
        "bundle": bundle, "partner": a_to_b, "key_set": keys_a, "token": token, "user": bob, "entry": entry,
        "partner_token": partner_token, "rule": rule,
    }  # fmt: skip
    kwargs = {
        "user_id": bob.pk, "token_id": token.pk, "index": entry.index, "hashset_id": hashset.pk, "import_id": job.pk,
        "case_id": case.pk, "note_id": note.pk, "task_id": task.pk, "attachment_id": attachment.pk,
        "lead_id": lead.pk, "request_id": lead_share.pk, "key_set_id": keys_a.pk, "partner_id": a_to_b.pk,
        "direction": "out", "bundle_pk": bundle.pk, "bundle_id": str(bundle.bundle_id), "code": "NSP",
        "algorithm": "md5", "hex_digest": digests(0)["MD5"].lower(), "rule_id": rule.pk,
        "batch_id": batch.pk, "token": newcomer.enrolment_token,
    }  # fmt: skip
    return World(users=users, objects=objects, kwargs=kwargs, tokens={"partner": f"Partner {partner_token}"})
