"""Exchange between two agencies on one node: sharing, applying, and every rejection reason."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from exchange.delivery import outbox_deliver
from exchange.inbox import inbox_receive
from exchange.keys import SigningPrivateKeys
from exchange.models import AgencyKeySet, Bundle, Partner, ShareRequest
from exchange.services import (
    ShareRefused,
    agreement_set,
    keys_revoke,
    keys_rotate,
    partner_verify,
    share_decide,
    share_request,
)
from hashsets.exchange_kinds import hashset_publish
from hashsets.models import Classification, HashSet
from hashsets.services import hashset_import_run, import_job_create
from tests.exchange.conftest import craft
from tests.hashsets.factories import vics2_file, vics2_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def nsp_set(agency_a, tmp_path):
    hashset = HashSet.objects.create(owner=agency_a, name="NSP shared", tlp="GREEN")
    path = vics2_file(tmp_path / "set.json", vics2_records(40, series="S-1"))
    job = import_job_create(acting_user=None, hashset=hashset, file_name="x", total_bytes=1, scheme=None)
    assert hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR).status == "done"
    return hashset


def _receive(data: bytes):
    return inbox_receive(src=io.BytesIO(data), via="test")


def test_hashset_published_delivered_and_applied(partnership, alice, nsp_set, agency_b):
    bundles = hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])
    assert [b.kind for b in bundles] == ["hashset.snapshot"]
    outcome = outbox_deliver(bundles[0].pk)
    assert outcome.state == "applied", outcome
    mirror = HashSet.objects.get(owner=nsp_set.owner, name="NSP shared", shared_with=agency_b)
    assert mirror == nsp_set  # same node: the owner's set is now also visible to RNP
    received = Bundle.objects.get(direction="in")
    assert received.state == "applied" and received.sequence == 1 and "40 items" in received.summary
    assert Bundle.objects.get(direction="out").state == "applied"
    audit_integrate()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"bundle.send", "bundle.receive", "bundle.apply"} <= actions


def test_delta_carries_changes_and_retractions(partnership, alice, nsp_set):
    outbox_deliver(hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])[0].pk)
    victim = Classification.objects.filter(hashset=nsp_set).first()
    Classification.objects.filter(pk=victim.pk).update(retracted_at=timezone.now(), updated_at=timezone.now())
    delta = hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])[0]
    assert delta.kind == "hashset.delta" and delta.sequence == 2
    assert outbox_deliver(delta.pk).state == "applied"
    assert Bundle.objects.get(direction="in", sequence=2).state == "applied"


def test_same_bundle_twice_changes_nothing(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    assert _receive(data).state == "applied"
    count = Classification.objects.count()
    again = _receive(data)
    assert again.state == "duplicate" and again.code == "replayed"
    assert Classification.objects.count() == count
    assert Bundle.objects.filter(direction="in", state="applied").count() == 1


def test_out_of_order_is_held_then_applied_in_order(partnership, agency_a, agency_b):
    second = craft(sender=agency_a, recipient=agency_b, sequence=2)
    first = craft(sender=agency_a, recipient=agency_b, sequence=1)
    held = _receive(second)
    assert held.state == "held" and held.code == "out_of_order"
    assert _receive(first).state == "applied"
    assert list(Bundle.objects.filter(direction="in").order_by("sequence").values_list("state", flat=True)) == [
        "applied",
        "applied",
    ]


def _die_in_apply(monkeypatch):
    """The process applying a bundle dies (SystemExit is what a gunicorn worker timeout raises)."""
    from exchange import inbox

    def die(*args, **kwargs):
        raise SystemExit(1)

    real = inbox._apply
    monkeypatch.setattr(inbox, "_apply", die)
    return lambda: monkeypatch.setattr(inbox, "_apply", real)


def test_a_bundle_whose_apply_died_is_applied_when_sent_again(partnership, agency_a, agency_b, monkeypatch):
    data = craft(sender=agency_a, recipient=agency_b, sequence=1)
    revive = _die_in_apply(monkeypatch)
    with pytest.raises(SystemExit):
        _receive(data)
    received = Bundle.objects.get(direction="in")
    assert received.state == "held" and received.applied_at is None  # the receive committed, the apply did not
    revive()
    assert _receive(data).state == "applied"  # the sender's retry finishes the job, once
    assert list(Bundle.objects.filter(direction="in").values_list("state", flat=True)) == ["applied"]
    assert _receive(data).state == "duplicate"


def test_the_sweep_applies_a_bundle_whose_apply_died(partnership, agency_a, agency_b, monkeypatch):
    from exchange.tasks import outbox_sweep_task

    first, second = (craft(sender=agency_a, recipient=agency_b, sequence=n) for n in (1, 2))
    assert _receive(second).state == "held"  # out of order: waits, and must keep waiting
    revive = _die_in_apply(monkeypatch)
    with pytest.raises(SystemExit):
        _receive(first)
    revive()
    outbox_sweep_task()  # nobody sends anything again: the periodic sweep resumes the stream
    assert list(Bundle.objects.filter(direction="in").order_by("sequence").values_list("state", flat=True)) == [
        "applied",
        "applied",
    ]


def _rejected(data: bytes, code: str, *, applied_before: int = 0):
    result = _receive(data)
    assert result.state == "rejected", result
    assert result.code == code, result
    kept = Bundle.objects.filter(direction="in", state="quarantined", reject_code=code)
    assert kept.exists()
    audit_integrate()
    assert AuditEntry.objects.filter(action="bundle.reject", outcome="failure").exists()
    assert Bundle.objects.filter(direction="in", state="applied").count() == applied_before
    return result


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_flipped_header_bit(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    position = data.index(b'"tlp":"GREEN"') + 8  # inside the signed header: GREEN -> GREEM-like
    result = _receive(_flip(data, position))
    assert result.state == "rejected" and result.code in {"signature_invalid", "malformed"}


def test_flipped_payload_bit(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    _rejected(_flip(data, len(data) - 5), "payload_digest_mismatch")


def test_flipped_signature_bit(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    header_len = int.from_bytes(data[10:14], "big")
    ed_signature_at = 14 + header_len + 4
    _rejected(_flip(data, ed_signature_at + 3), "signature_invalid")


def test_truncated(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b, payload=b"x" * 500, chunk_size=64)
    _rejected(data[:-40], "truncated")


def test_trailing_bytes(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    _rejected(data + b"extra", "trailing_data")


def test_not_for_an_agency_here(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    agency_b.hosted_here = False
    agency_b.save()
    _rejected(data, "not_recipient")


def test_signed_with_a_key_not_on_record(partnership, agency_a, agency_b):
    forged = craft(sender=agency_a, recipient=agency_b, signing_keys=SigningPrivateKeys.generate())
    _rejected(forged, "unknown_key")


def test_expired(partnership, agency_a, agency_b):
    AgencyKeySet.objects.filter(agency=agency_a).update(valid_from=timezone.now() - timedelta(days=30))
    created = datetime.now(UTC) - timedelta(days=3)
    _rejected(craft(sender=agency_a, recipient=agency_b, created=created, expires=timedelta(days=1)), "expired")


def test_unverified_partner(partnership, agency_a, agency_b):
    Partner.objects.filter(agency=agency_b, partner=agency_a).update(state="unverified")
    _rejected(craft(sender=agency_a, recipient=agency_b), "unverified_partner")


def test_unknown_sender(partnership, agency_a, agency_b):
    Partner.objects.filter(agency=agency_b, partner=agency_a).delete()
    _rejected(craft(sender=agency_a, recipient=agency_b), "unknown_sender")


def test_revoked_key(partnership, adam, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    keys_revoke(acting_user=adam, key_set=AgencyKeySet.objects.get(agency=agency_a), reason="laptop stolen")
    _rejected(data, "key_revoked")


def test_kind_not_allowed(partnership, carl, agency_a, agency_b):
    agreement_set(
        acting_user=carl, partner=Partner.objects.get(agency=agency_b), data_types=["lead"], max_tlp="AMBER",
        requires_approval=False,
    )  # fmt: skip
    _rejected(craft(sender=agency_a, recipient=agency_b), "kind_not_allowed")


def test_tlp_above_the_agreement(partnership, agency_a, agency_b):
    _rejected(craft(sender=agency_a, recipient=agency_b, tlp="RED"), "tlp_not_allowed")


def test_reused_sequence_with_a_new_id(partnership, agency_a, agency_b):
    assert _receive(craft(sender=agency_a, recipient=agency_b, sequence=1)).state == "applied"
    _rejected(craft(sender=agency_a, recipient=agency_b, sequence=1), "replayed", applied_before=1)


def test_unparseable_payload_is_refused_by_the_kind_and_rolled_back(partnership, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b, payload=b"not json\n")
    result = _receive(data)
    assert result.state == "rejected" and result.code == "apply_refused"
    assert not HashSet.objects.filter(name="crafted").exists()


def test_garbage_is_quarantined_as_malformed(partnership):
    _rejected(b"GIF89a this is not a bundle", "malformed")


def test_rotated_keys_still_verify_old_bundles(partnership, adam, agency_a, agency_b):
    data = craft(sender=agency_a, recipient=agency_b)
    keys_rotate(acting_user=adam)
    assert _receive(data).state == "applied"


# --- sharing rules and four eyes --------------------------------------------------------------


def test_share_refused_without_agreement_cover(partnership, alice, nsp_set, adam):
    agreement_set(
        acting_user=adam, partner=Partner.objects.get(agency=nsp_set.owner), data_types=["lead"], max_tlp="AMBER",
        requires_approval=False,
    )  # fmt: skip
    with pytest.raises(ShareRefused, match="does not cover hashset"):
        hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])


def test_share_refused_to_unverified_partner(partnership, alice, nsp_set):
    Partner.objects.filter(agency=nsp_set.owner).update(state="unverified")
    with pytest.raises(ShareRefused, match="not verified"):
        hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])


def test_four_eyes_approval(partnership, adam, alice, sam, nsp_set):
    agreement_set(
        acting_user=adam, partner=Partner.objects.get(agency=nsp_set.owner), data_types=["hashset"], max_tlp="AMBER",
        requires_approval=True,
    )  # fmt: skip
    request, bundles = share_request(
        acting_user=alice, kind="hashset.snapshot", object_type="hashset", object_id=str(nsp_set.pk),
        recipient_codes=["RNP"], tlp="GREEN", summary="NSP shared", purpose="series deconfliction",
    )  # fmt: skip
    assert bundles == [] and request.state == ShareRequest.State.PENDING
    from casebridge.errors import ForbiddenError

    with pytest.raises(ForbiddenError):
        share_decide(acting_user=alice, request=request, approve=True)  # not a supervisor
    bundles = share_decide(acting_user=sam, request=request, approve=True)
    assert len(bundles) == 1 and outbox_deliver(bundles[0].pk).state == "applied"
    request.refresh_from_db()
    assert request.state == ShareRequest.State.APPROVED and request.decided_by == sam


def test_publishing_a_hash_set_honours_the_agreements_approval_flag(partnership, adam, alice, sam, nsp_set):
    agreement_set(
        acting_user=adam, partner=Partner.objects.get(agency=nsp_set.owner), data_types=["hashset"], max_tlp="AMBER",
        requires_approval=True,
    )  # fmt: skip
    assert hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"]) == []
    assert not Bundle.objects.exists()  # nothing left the agency
    request = ShareRequest.objects.get(state=ShareRequest.State.PENDING)
    assert (request.kind, request.object_id, request.recipients) == ("hashset.snapshot", str(nsp_set.pk), ["RNP"])
    assert request.requested_by == alice
    [bundle] = share_decide(acting_user=sam, request=request, approve=True)  # another person decides
    assert bundle.kind == "hashset.snapshot" and outbox_deliver(bundle.pk).state == "applied"
    assert Bundle.objects.get(direction="in").state == "applied"
    assert nsp_set.shared_with.filter(code="RNP").exists()  # on one node, applying shares the owner's set


def test_supervisor_cannot_approve_own_request(partnership, adam, sam, nsp_set):
    agreement_set(
        acting_user=adam, partner=Partner.objects.get(agency=nsp_set.owner), data_types=["hashset"], max_tlp="AMBER",
        requires_approval=True,
    )  # fmt: skip
    request, _ = share_request(
        acting_user=sam, kind="hashset.snapshot", object_type="hashset", object_id=str(nsp_set.pk),
        recipient_codes=["RNP"], tlp="GREEN", summary="x",
    )  # fmt: skip
    from casebridge.errors import ForbiddenError

    with pytest.raises(ForbiddenError, match="four eyes"):
        share_decide(acting_user=sam, request=request, approve=True)


def test_wrong_fingerprint_is_not_verified(adam, agency_a, agency_b):
    from casebridge.errors import CasebridgeError
    from exchange.services import keys_ensure, partner_add_from_card

    partner = partner_add_from_card(acting_user=adam, card_document=keys_ensure(agency=agency_b).card)
    with pytest.raises(CasebridgeError, match="does not match"):
        partner_verify(acting_user=adam, partner=partner, signing_fingerprint="AAAA-BBBB-CCCC-DDDD-EEEE")
    partner.refresh_from_db()
    assert partner.state == "unverified"


def test_remote_partner_down_means_retry_with_backoff(adam, alice, agency_a, nsp_set, settings):
    from agencies.models import Agency

    settings.EXCHANGE_PARTNER_NETWORKS = ["127.0.0.0/8"]  # the "remote" node is on loopback here
    from exchange.models import SharingAgreement
    from exchange.services import keys_ensure, partner_add_from_card, partner_outbound_token_set

    # A remote agency's card (made here with a throwaway agency, then moved "off-node").
    remote = Agency.objects.create(
        name="Far Away", code="FAR", country="FR", node_url="http://127.0.0.1:9", hosted_here=True
    )
    card = keys_ensure(agency=remote).card
    AgencyKeySet.objects.filter(agency=remote).update(signing_private_wrapped=None, encryption_private_wrapped=None)
    Agency.objects.filter(pk=remote.pk).update(hosted_here=False)
    partner = partner_add_from_card(acting_user=adam, card_document=card)
    partner_verify(
        acting_user=adam,
        partner=partner,
        signing_fingerprint=AgencyKeySet.objects.get(agency=remote, owner__isnull=True).signing_fingerprint,
    )
    SharingAgreement.objects.filter(partner=partner).update(
        data_types=["hashset"], max_tlp="AMBER", requires_approval=False
    )
    partner_outbound_token_set(acting_user=adam, partner=partner, token="cbp_test")
    bundle = hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["FAR"])[0]
    outcome = outbox_deliver(bundle.pk)
    assert outcome.state == "retry" and "unreachable" in outcome.message
    bundle.refresh_from_db()
    assert bundle.state == "pending" and bundle.attempts == 1 and bundle.next_attempt_at > timezone.now()
    assert outbox_deliver(bundle.pk) is None  # not due yet: nobody delivers it twice at once


def test_kek_rotation_rewraps_keys_without_losing_them(partnership, agency_a, agency_b, settings):
    import base64
    import os

    from django.core.management import call_command

    from exchange import keystore

    old = settings.KEY_ENCRYPTION_KEY
    new = base64.b64encode(os.urandom(32)).decode()
    settings.KEY_ENCRYPTION_KEY, settings.KEY_ENCRYPTION_KEY_PREVIOUS = new, old
    keystore.node_kek.cache_clear()
    try:
        data = craft(sender=agency_a, recipient=agency_b)  # works mid-rotation through the previous KEK
        call_command("rotate_kek")
        settings.KEY_ENCRYPTION_KEY_PREVIOUS = None
        assert _receive(data).state == "applied"  # the recipient's key now unwraps under the new KEK alone
    finally:
        settings.KEY_ENCRYPTION_KEY, settings.KEY_ENCRYPTION_KEY_PREVIOUS = old, None
        keystore.node_kek.cache_clear()


def test_a_new_card_with_new_keys_needs_a_fresh_fingerprint_check(adam, agency_a):
    from agencies.models import Agency
    from exchange.services import keys_ensure, keys_rotate, partner_add_from_card

    remote = Agency.objects.create(
        name="Far", code="FAR", country="FR", node_url="http://127.0.0.1:9", hosted_here=True
    )
    first = keys_ensure(agency=remote)
    Agency.objects.filter(pk=remote.pk).update(hosted_here=False)
    partner = partner_add_from_card(acting_user=adam, card_document=first.card)
    partner_verify(acting_user=adam, partner=partner, signing_fingerprint=first.signing_fingerprint)
    Agency.objects.filter(pk=remote.pk).update(hosted_here=True)
    from agencies.models import Membership

    far_admin = Membership.objects.create(
        user=type(adam).objects.create_user("far.admin", password="x" * 20), agency=remote, role="agency_admin"
    ).user
    second = keys_rotate(acting_user=far_admin)
    card = second.card
    second.delete()  # on our node only the card of a remote agency's new keys would be known
    Agency.objects.filter(pk=remote.pk).update(hosted_here=False)
    partner = partner_add_from_card(acting_user=adam, card_document=card)
    assert partner.state == "unverified"
