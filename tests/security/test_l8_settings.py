"""L8: weak secrets passed in production (a SECRET_KEY of 59 "a"s and "bcde"; ALLOWED_HOSTS=*).

With DEBUG off the node refuses to start with a low-entropy key (runs, repeated patterns, few
distinct characters) or a wildcard host. Settings are loaded in a subprocess, as in
tests/test_settings.py.
"""

from __future__ import annotations

import secrets

import pytest
from django.core.management.utils import get_random_secret_key

from casebridge.lib.env import allowed_host_weakness, secret_key_weakness
from tests.test_settings import GOOD_KEY, _django

HOST = "casebridge.example"


@pytest.mark.parametrize(
    "key",
    [
        "a" * 59 + "bcde",  # the reported key: passes Django's W009 (50+ characters, 5 distinct)
        "abcde" * 12,
        "abcdefghij" * 6,
        "abcdefghijklmnopqrstuvwxyz" * 2,
        "a" * 30 + "Zq9_x-Lm3Tr7Yb2Kw8Hp4Ns6",
        "django-insecure-" + secrets.token_urlsafe(48),
        secrets.token_urlsafe(30)[:40],
    ],
)
def test_l8_weak_secret_key_refuses_to_start(key):
    result = _django({"DEBUG": "0", "SECRET_KEY": key, "ALLOWED_HOSTS": HOST}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "too weak" in result.stderr
    assert key not in result.stderr  # the message explains, it never repeats the secret


def test_l8_random_keys_pass():
    for _ in range(200):
        for key in (get_random_secret_key(), secrets.token_hex(25), secrets.token_urlsafe(38), secrets.token_hex(32)):
            assert secret_key_weakness(key) is None, key
    assert secret_key_weakness(GOOD_KEY) is None
    result = _django({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": HOST}, "check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("hosts", ["*", f"{HOST},*", ".com", ".co.uk", "*.example.org", ".org."])
def test_l8_wildcard_allowed_hosts_refuses_to_start(hosts):
    result = _django({"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": hosts}, "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr and "this node's own host names" in result.stderr


def test_l8_own_host_names_and_own_subdomains_pass():
    for host in (HOST, ".casebridge.example.org", ".police.example.co.uk", "10.0.0.5", "[2001:db8::1]"):
        assert allowed_host_weakness(host) is None, host
    result = _django({"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": f"{HOST},.nodes.example.org"}, "check")
    assert result.returncode == 0, result.stderr


def test_l8_debug_on_keeps_the_development_defaults():
    result = _django({"DEBUG": "1", "ALLOWED_HOSTS": "*"}, "check")
    assert result.returncode == 0, result.stderr
