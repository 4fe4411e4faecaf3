"""`manage.py seed_demo` (what `make run` does): a usable node, and running it twice changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from agencies.models import Membership
from cases.models import Case
from exchange.models import Partner
from hashsets.models import Classification, HashSet
from retention.models import RetentionRule

pytestmark = pytest.mark.django_db


def _state() -> dict:
    return {
        "members": Membership.objects.count(),
        "verified partners": Partner.objects.filter(state="verified").count(),
        "hash sets": HashSet.objects.count(),
        "classifications": Classification.objects.count(),
        "cases": Case.objects.count(),
        "retention rules": RetentionRule.objects.count(),
    }


def test_seed_demo_gives_a_usable_node_and_is_idempotent(settings, capsys):
    settings.DEBUG = True  # the command refuses to run otherwise (demo users have published passwords)
    call_command("seed_demo")
    first = _state()
    assert first["members"] >= 8 and first["verified partners"] == 2 and first["hash sets"] == 2
    assert first["classifications"] == 200 + 110 and first["cases"] == 1
    assert RetentionRule.objects.filter(agency__code="NSP", kind="case", status="closed").exists()
    assert first["retention rules"] == 2 * 6
    call_command("seed_demo")
    assert _state() == first
