"""L2 (issue 13): rejected partner pushes were kept forever under quarantine.

Now, per partnership: the newest EXCHANGE_QUARANTINE_BODIES_PER_PARTNER rejections keep their file,
older ones their header and reason only, at most EXCHANGE_QUARANTINE_MAX_PER_PARTNER rows are kept,
and the hourly sweep expires files and rows; every rejection stays in the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from exchange.inbox import quarantine_expire
from exchange.models import Bundle
from exchange.services import partner_token_issue
from exchange.tasks import quarantine_expire_task
from tests.exchange.conftest import craft


def _quarantined():
    return Bundle.objects.filter(direction="in", state="quarantined").order_by("created_at", "pk")


@pytest.fixture
def pusher(partnership, carl, api_client):
    """RNP's token for NSP's node: pushes `n` broken bundles (each rejected as trailing_data)."""
    _, b_to_a = partnership
    token = partner_token_issue(acting_user=carl, partner=b_to_a)

    def push(n: int, *, data: bytes) -> None:
        for _ in range(n):
            answer = api_client.post(
                "/api/v1/exchange/inbox", data=data + b"x", content_type="application/octet-stream",
                HTTP_AUTHORIZATION=f"Partner {token}",
            )  # fmt: skip
            assert answer.status_code == 422

    return push


def test_l2_quarantine_is_capped_per_partner_and_keeps_only_recent_bodies(pusher, agency_a, agency_b, settings):
    settings.EXCHANGE_QUARANTINE_BODIES_PER_PARTNER = 2
    settings.EXCHANGE_QUARANTINE_MAX_PER_PARTNER = 5
    pusher(8, data=craft(sender=agency_a, recipient=agency_b))

    rows = list(_quarantined())
    assert len(rows) == 5  # the oldest three went
    assert all(r.sender_code == "NSP" and r.recipient_code == "RNP" for r in rows)  # filed under the token's pair
    with_body = [r for r in rows if r.path]
    assert len(with_body) == 2 and with_body == rows[-2:]  # only the newest keep their file
    assert all(Path(r.path).exists() for r in with_body)
    for row in rows[:-2]:
        assert row.size == 0 and row.header.get("sender", {}).get("agency") == "NSP"  # header and reason stay
        assert row.reject_code == "trailing_data" and row.last_error
    kept_files = list((Path(django_settings.EXCHANGE_BUNDLE_DIR) / "quarantine").iterdir())
    assert len(kept_files) == 2  # nothing else left on disk
    audit_integrate()
    assert AuditEntry.objects.filter(action="bundle.reject").count() == 8  # the record of each refusal stays


def test_l2_a_flood_from_one_partner_does_not_evict_another_partners_rejections(
    pusher, partnership, agency_a, agency_b, settings
):
    import io

    from exchange.inbox import inbox_receive

    settings.EXCHANGE_QUARANTINE_MAX_PER_PARTNER = 3
    other = inbox_receive(src=io.BytesIO(craft(sender=agency_b, recipient=agency_a) + b"x"), via="test")
    assert other.code == "trailing_data"
    pusher(6, data=craft(sender=agency_a, recipient=agency_b))
    assert _quarantined().filter(sender_code="RNP", recipient_code="NSP").count() == 1
    assert _quarantined().filter(sender_code="NSP", recipient_code="RNP").count() == 3


def test_l2_periodic_sweep_expires_files_then_rows(pusher, agency_a, agency_b, settings):
    settings.EXCHANGE_QUARANTINE_BODY_DAYS = 7
    settings.EXCHANGE_QUARANTINE_DAYS = 90
    pusher(3, data=craft(sender=agency_a, recipient=agency_b))
    first, second, third = _quarantined()
    now = timezone.now()
    Bundle.objects.filter(pk=first.pk).update(created_at=now - timedelta(days=91))
    Bundle.objects.filter(pk=second.pk).update(created_at=now - timedelta(days=8))

    assert quarantine_expire() == {"bodies": 2, "rows": 1}
    assert not Bundle.objects.filter(pk=first.pk).exists() and not Path(first.path).exists()
    second.refresh_from_db()
    assert second.path == "" and second.reject_code == "trailing_data" and second.header
    third.refresh_from_db()
    assert third.path and Path(third.path).exists()
    assert quarantine_expire_task() == {"bodies": 0, "rows": 0}  # idempotent, and the beat task runs it


def test_l2_expiry_is_scheduled_in_beat():
    entry = django_settings.CELERY_BEAT_SCHEDULE["exchange-quarantine-expire"]
    assert entry["task"] == "exchange.tasks.quarantine_expire_task"
    assert entry["schedule"] <= 24 * 3600


def test_l2_defaults_are_bounded():
    assert 0 < django_settings.EXCHANGE_QUARANTINE_MAX_PER_PARTNER <= 10_000
    assert django_settings.EXCHANGE_QUARANTINE_BODIES_PER_PARTNER <= django_settings.EXCHANGE_QUARANTINE_MAX_PER_PARTNER
    assert django_settings.EXCHANGE_QUARANTINE_BODY_DAYS <= django_settings.EXCHANGE_QUARANTINE_DAYS
