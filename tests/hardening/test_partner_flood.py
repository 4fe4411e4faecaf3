"""A hostile or broken partner node: floods, oversized bundles. Refused early, without costing the
other partners anything, and on the record."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from exchange.models import Bundle, Partner
from exchange.services import partner_token_issue
from tests.exchange.conftest import craft

pytestmark = pytest.mark.django_db

INBOX = "/api/v1/exchange/inbox"
BUDGET = 5


@pytest.fixture
def tokens(partnership, adam, carl, agency_a, agency_b):
    """What each partner node presents: RNP's node calling NSP, and NSP's node calling RNP."""
    cache.clear()  # request budgets live in the cache
    rnp_node = partner_token_issue(acting_user=adam, partner=Partner.objects.get(agency=agency_a, partner=agency_b))
    nsp_node = partner_token_issue(acting_user=carl, partner=Partner.objects.get(agency=agency_b, partner=agency_a))
    yield {"RNP": {"HTTP_AUTHORIZATION": f"Partner {rnp_node}"}, "NSP": {"HTTP_AUTHORIZATION": f"Partner {nsp_node}"}}
    cache.clear()


@pytest.fixture
def small_budget(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "partner": f"{BUDGET}/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _post(client, data: bytes, auth: dict):
    return client.post(INBOX, data=data, content_type="application/octet-stream", **auth)


def test_a_flooding_partner_is_slowed_down_alone(api_client, tokens, small_budget, agency_a, agency_b):
    garbage = b"\x89CBB" + b"\x00" * 200
    answers = [_post(api_client, garbage, tokens["RNP"]).status_code for _ in range(BUDGET + 20)]
    assert answers[:BUDGET] == [422] * BUDGET  # read, checked, quarantined
    assert set(answers[BUDGET:]) == {429}  # then refused before the body is read
    refused = _post(api_client, garbage, tokens["RNP"])
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused["Content-Type"] == "application/problem+json"
    assert Bundle.objects.filter(direction="in", state="quarantined").count() == BUDGET  # nothing more kept

    # The other partner's node is not affected by RNP's flood.
    pushed = _post(api_client, craft(sender=agency_a, recipient=agency_b), tokens["NSP"])
    assert pushed.status_code == 202 and pushed.json()["state"] == "applied"
    # ... and the budget covers every partner endpoint, not only the inbox.
    assert api_client.get("/api/v1/exchange/feed", {"after": 0}, **tokens["RNP"]).status_code == 429
    assert api_client.get("/api/v1/exchange/feed", {"after": 0}, **tokens["NSP"]).status_code == 200


def test_an_oversized_bundle_is_refused_before_it_is_read_and_audited(api_client, tokens, settings, tmp_path):
    settings.EXCHANGE_MAX_BUNDLE_BYTES = 4096
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"
    response = _post(api_client, b"\x89CBB" + b"\x00" * 8192, tokens["RNP"])
    assert response.status_code == 413
    assert response.json()["detail"] == "Bundles are limited to 4,096 bytes."
    assert not Bundle.objects.filter(direction="in").exists()  # nothing kept: that is the point of the limit
    assert not list(tmp_path.glob("bundles/**/*.cbb"))
    audit_integrate()
    refusal = AuditEntry.objects.get(action="bundle.reject")
    assert (refusal.outcome, refusal.actor_type, refusal.actor_name, refusal.agency_code) == (
        "failure",
        "partner",
        "RNP",
        "NSP",
    )
    assert "too_large" in refusal.canonical and "declared 8,196" in refusal.canonical
