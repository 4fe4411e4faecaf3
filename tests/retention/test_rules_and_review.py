"""Rules (bounded by the audit log's retention), the review queue at given dates, extend and let go."""

from __future__ import annotations

import json

import pytest

from casebridge.errors import CasebridgeError, ForbiddenError, NotFoundError
from retention import selectors, services
from retention.models import RetentionRule, ReviewState
from tests.retention.conftest import days, entries, make_case

pytestmark = pytest.mark.django_db


def queue_of(user, at):
    return [(item.kind, item.object_id) for item in selectors.review_queue(user=user, now=at).items]


def test_rules_are_validated_and_bounded_by_audit_retention(adam, alice, settings):
    settings.AUDIT_RETENTION_DAYS = 3650
    rule = services.retention_rule_set(
        acting_user=adam, kind="case", status="closed", review_after_days=365, erase_after_days=3650
    )
    too_long = r"longer than this node keeps its audit log \(AUDIT_RETENTION_DAYS = 3650"
    with pytest.raises(CasebridgeError, match=too_long):
        services.retention_rule_set(
            acting_user=adam, kind="case", status="closed", review_after_days=365, erase_after_days=3651
        )
    with pytest.raises(CasebridgeError, match="comes before the review"):
        services.retention_rule_set(acting_user=adam, kind="lead", review_after_days=30, erase_after_days=10)
    with pytest.raises(CasebridgeError, match="cannot name status 'closed'"):
        services.retention_rule_set(
            acting_user=adam, kind="evidence", status="closed", review_after_days=1, erase_after_days=2
        )
    with pytest.raises(CasebridgeError, match="Unknown kind of record"):
        services.retention_rule_set(acting_user=adam, kind="photos", review_after_days=1, erase_after_days=2)
    with pytest.raises(ForbiddenError):
        services.retention_rule_set(acting_user=alice, kind="case", review_after_days=1, erase_after_days=2)
    # the same kind and status again changes the rule, it does not add one
    services.retention_rule_set(
        acting_user=adam, kind="case", status="closed", review_after_days=100, erase_after_days=200
    )
    rule.refresh_from_db()
    assert RetentionRule.objects.count() == 1 and (rule.review_after_days, rule.erase_after_days) == (100, 200)
    changes = entries("retention.rule_change")
    assert len(changes) == 2 and changes[1]["details"]["before"]["erase_after_days"] == 3650
    assert changes[1]["details"]["after"]["erase_after_days"] == 200


def test_review_queue_at_given_dates(alice, bob, sam, adam, charlie, case_a, closed_rule):
    services.retention_rule_set(acting_user=adam, kind="case", review_after_days=60, erase_after_days=120)
    bobs_case = make_case(bob, "Operation Kestrel", closed_at=days(10))
    open_case = make_case(alice, "Operation Open", updated_at=days(0))
    lantern, kestrel, still_open = ("case", case_a.pk), ("case", bobs_case.pk), ("case", open_case.pk)

    assert queue_of(alice, days(29)) == [] and queue_of(sam, days(29)) == []
    assert queue_of(alice, days(30)) == [lantern]  # the closed-case rule: 30 days after closing
    assert queue_of(bob, days(30)) == []  # bob is a member of Lantern, not its lead
    assert queue_of(sam, days(30)) == [lantern]  # supervisors review the whole agency
    assert queue_of(bob, days(40)) == [kestrel] and queue_of(sam, days(40)) == [lantern, kestrel]
    # an open case falls under the kind-wide rule (60 days since its last change)
    assert queue_of(alice, days(59)) == [lantern]
    assert queue_of(alice, days(60)) == [lantern, still_open]
    assert queue_of(charlie, days(400)) == []  # RNP has no rules and sees nothing of NSP
    with pytest.raises(ForbiddenError):
        selectors.review_queue(user=adam, now=days(40))
    # a change to the record moves its dates: it leaves the queue
    from cases.models import Case

    Case.objects.filter(pk=case_a.pk).update(updated_at=days(35))
    assert queue_of(alice, days(40)) == []
    item = selectors.record_retention(agency=case_a.agency, kind="case", object_id=case_a.pk, now=days(40))
    assert item.review_at == days(65) and item.erase_at == days(125)


def test_extend_needs_a_reason_and_moves_both_dates(alice, sam, case_a, closed_rule, settings):
    with pytest.raises(CasebridgeError, match="needs a reason"):
        services.review_extend(
            acting_user=alice, kind="case", object_id=case_a.pk, reason="  ", review_on=days(90), now=days(31)
        )
    assert not ReviewState.objects.exists()
    with pytest.raises(CasebridgeError, match="must be after today"):
        services.review_extend(
            acting_user=alice, kind="case", object_id=case_a.pk, reason="appeal", review_on=days(20), now=days(31)
        )
    settings.AUDIT_RETENTION_DAYS = 100
    with pytest.raises(CasebridgeError, match="AUDIT_RETENTION_DAYS = 100"):
        services.review_extend(
            acting_user=alice, kind="case", object_id=case_a.pk, reason="appeal", review_on=days(200), now=days(31)
        )
    settings.AUDIT_RETENTION_DAYS = 3650
    state = services.review_extend(
        acting_user=alice, kind="case", object_id=case_a.pk, reason="Appeal hearing in March",
        review_on=days(90).date(), now=days(31),
    )  # fmt: skip
    assert state.review_at == days(90).replace(hour=0) and state.erase_at == state.review_at + (days(90) - days(30))
    assert queue_of(alice, days(31)) == [] and queue_of(alice, days(89)) == []
    assert queue_of(alice, days(90)) == [("case", case_a.pk)]  # back at its new review date
    assert selectors.erasure_due(agency=case_a.agency, now=days(100)) == []  # the deadline moved too
    review = entries("retention.review")[-1]
    assert review["details"]["decision"] == "extended" and review["purpose"] == {
        "code": "retention_review",
        "case": case_a.reference,
    }
    assert "reason" in review["commitments"] and "Appeal hearing" not in json.dumps(review)

    services.review_release(acting_user=sam, kind="case", object_id=case_a.pk, now=days(91))
    assert queue_of(sam, days(91)) == []
    due = selectors.erasure_due(agency=case_a.agency, now=days(91))
    assert [(d.kind, d.object_id) for d in due] == [("case", case_a.pk)]  # let go: erased at its deadline
    assert entries("retention.review")[-1]["details"]["decision"] == "released"


def test_only_the_case_lead_or_a_supervisor_reviews(bob, adam, charlie, case_a, closed_rule):
    with pytest.raises(NotFoundError):  # a member, not the lead: not among the records bob reviews
        services.review_release(acting_user=bob, kind="case", object_id=case_a.pk, now=days(31))
    with pytest.raises(NotFoundError):  # another agency: the case does not exist for charlie
        services.review_release(acting_user=charlie, kind="case", object_id=case_a.pk, now=days(31))
    with pytest.raises(ForbiddenError):
        services.review_release(acting_user=adam, kind="case", object_id=case_a.pk, now=days(31))
    assert not ReviewState.objects.exists()
