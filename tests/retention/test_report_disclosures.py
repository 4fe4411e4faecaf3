"""Issue 14: the purpose report counts a disclosure once per bundle and recipient, only for a bundle
that left the node; share requests and approvals are decisions, not disclosures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agencies.models import Agency, Role
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, Actor, audit_record
from audit.integrator import audit_integrate
from exchange.delivery import outbox_deliver
from exchange.models import Bundle, Partner
from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify, share_decide
from exchange.services import share_request as exchange_share_request
from hashsets.models import HashSet
from hashsets.services import hashset_import_run, import_job_create
from retention import reports
from tests.conftest import make_member
from tests.hashsets.factories import vics2_file, vics2_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def nsp_set(agency_a, tmp_path):
    hashset = HashSet.objects.create(owner=agency_a, name="NSP shared", tlp="GREEN")
    path = vics2_file(tmp_path / "set.json", vics2_records(5, series="S-1"))
    job = import_job_create(acting_user=None, hashset=hashset, file_name="x", total_bytes=1, scheme=None)
    assert hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR).status == "done"
    return hashset


@pytest.fixture
def third_partner(adam, agency_a):
    """CPD, a verified partner of NSP that nothing will be sent to."""
    agency_c = Agency.objects.create(name="Coastal Police", code="CPD", country="BE")
    make_member(agency_c, Role.AGENCY_ADMIN, "cora")
    keys_c = keys_ensure(agency=agency_c)
    partner = partner_add_from_card(acting_user=adam, card_document=keys_c.card)
    partner_verify(acting_user=adam, partner=partner, signing_fingerprint=keys_c.signing_fingerprint)
    agreement_set(acting_user=adam, partner=partner, data_types=["hashset"], max_tlp="AMBER", requires_approval=True)
    return partner


def _share(user, hashset, recipient: str):
    request, _ = exchange_share_request(
        acting_user=user, kind="hashset.snapshot", object_type="hashset", object_id=str(hashset.pk),
        recipient_codes=[recipient], tlp="GREEN", summary="NSP shared", purpose="series deconfliction",
    )  # fmt: skip
    return request


def _today():
    start = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def test_14_one_bundle_is_one_disclosure_and_refused_or_undelivered_shares_none(
    partnership, third_partner, adam, alice, sam, agency_a, nsp_set
):
    agreement_set(
        acting_user=adam, partner=Partner.objects.get(agency=agency_a, partner__code="RNP"), data_types=["hashset"],
        max_tlp="AMBER", requires_approval=True,
    )  # fmt: skip
    # 1. requested, approved, delivered and applied: share.request + share.approve + bundle.send
    [delivered] = share_decide(acting_user=sam, request=_share(alice, nsp_set, "RNP"), approve=True)
    assert outbox_deliver(delivered.pk).state == "applied"
    # ... and the partner also pulled it: still the same one bundle to the same recipient
    audit_record(
        action=Action.BUNDLE_PULL,
        actor=Actor(type="partner", id="RNP", name="RNP", auth="partner-token"),
        agency="NSP",
        object_type="bundle",
        object_id=str(delivered.bundle_id),
        purpose={"code": "sharing_agreement", "partner": "RNP"},
        recipients=["RNP"],
    )
    # 2. refused by the supervisor: nothing was sent to CPD
    assert share_decide(acting_user=sam, request=_share(alice, nsp_set, "CPD"), approve=False) == []
    # 3. approved but not delivered yet: it has not left the node
    [pending] = share_decide(acting_user=sam, request=_share(alice, nsp_set, "RNP"), approve=True)
    assert Bundle.objects.get(pk=pending.pk).state == Bundle.State.PENDING
    audit_integrate()

    report = reports.report_build(agency=agency_a, time_from=_today()[0], time_to=_today()[1])
    disclosures = [row for row in report.rows if row.category == "disclosure"]
    assert sum(row.count for row in disclosures) == 1
    assert [(row.action, row.recipients) for row in disclosures] == [("bundle.send", "RNP")]
    assert report.by_recipient == [("RNP", 1)]  # CPD, asked for and refused, is not listed
    assert sum(d for _key, _c, d, _p in report.by_user) == 1
    assert not any(row.action.startswith("share.") for row in report.rows)
    csv_text = reports.report_csv(report)
    assert "CPD" not in csv_text


def test_14_a_bundle_the_recipient_refused_is_no_disclosure(partnership, alice, agency_a, nsp_set):
    from hashsets.exchange_kinds import hashset_publish

    [bundle] = hashset_publish(acting_user=alice, hashset=nsp_set, recipient_codes=["RNP"])
    Bundle.objects.filter(pk=bundle.pk).update(state=Bundle.State.REJECTED)  # as after a 422 from RNP's node
    audit_integrate()
    report = reports.report_build(agency=agency_a, time_from=_today()[0], time_to=_today()[1])
    assert [row for row in report.rows if row.category == "disclosure"] == [] and report.by_recipient == []
