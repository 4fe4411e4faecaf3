"""Demo agencies and users for `make run` (DEMO or DEBUG only). Deterministic so a second run changes nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agencies.models import Agency, Authenticator, Membership, Role

User = get_user_model()

DEMO_PASSWORD = "Casebridge-demo-passphrase-2026"  # noqa: S105 - published demo password; seed_demo refuses without DEMO or DEBUG
DEMO_AGENCIES = [
    {"code": "NSP", "name": "Northshire Police Online Child Protection Unit", "country": "GB"},
    {"code": "RNP", "name": "Rivermark National Police Victim Identification", "country": "NL"},
]
ROLE_SUFFIX = {
    Role.INVESTIGATOR: "investigator",
    Role.SUPERVISOR: "supervisor",
    Role.AGENCY_ADMIN: "admin",
    Role.AUDITOR: "auditor",
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    agency: str
    role: str
    password: str
    totp_secret_b32: str


def demo_totp_key(username: str) -> bytes:
    return hashlib.sha256(f"casebridge-demo-totp:{username}".encode()).digest()[:20]


@transaction.atomic
def demo_seed(*, node_url: str = "http://127.0.0.1:8000") -> list[DemoUser]:
    created: list[DemoUser] = []
    for spec in DEMO_AGENCIES:
        agency, _ = Agency.objects.get_or_create(
            code=spec["code"],
            defaults={"name": spec["name"], "country": spec["country"], "node_url": node_url, "hosted_here": True},
        )
        for role, suffix in ROLE_SUFFIX.items():
            username = f"{spec['code'].lower()}.{suffix}"
            user, new = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": suffix.capitalize(),
                    "last_name": spec["code"],
                    "email": f"{username}@example.org",
                },
            )
            if new:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            Membership.objects.update_or_create(user=user, defaults={"agency": agency, "role": role})
            key = demo_totp_key(username)
            device = Authenticator.objects.filter(user=user, name="Demo authenticator").first()
            if device is None or not device.seed_is_wrapped or device.bin_key != key or not device.confirmed:
                # Saved through Authenticator, so the published demo seed is stored wrapped too.
                device = device or Authenticator(user=user, name="Demo authenticator")
                device.key, device.confirmed = key.hex(), True
                device.save()
            created.append(
                DemoUser(
                    username=username,
                    agency=agency.code,
                    role=role,
                    password=DEMO_PASSWORD,
                    totp_secret_b32=base64.b32encode(key).decode(),
                )
            )
    return created


def demo_allowed() -> bool:
    """Whether demo users (published passwords) and their helpers may exist here: DEMO or DEBUG only."""
    return bool(settings.DEMO or settings.DEBUG)


def demo_command_env() -> str:
    """The environment prefix that makes a pasted `manage.py` command see this same demo node."""
    parts = ["DEMO=1" if settings.DEMO else "DEBUG=1"]
    if var_dir := os.environ.get("CASEBRIDGE_VAR_DIR"):
        parts.append(f"CASEBRIDGE_VAR_DIR={shlex.quote(var_dir)}")
    return " ".join(parts)


def demo_python() -> str:
    """The interpreter to print in hints: the repository's .venv when it is there, as `make run` uses it."""
    venv_python = Path(settings.BASE_DIR) / ".venv" / "bin" / "python"
    return ".venv/bin/python" if venv_python.exists() else shlex.quote(sys.executable)


def demo_code_hint(username: str) -> str:
    """A command that prints `username`'s current one-time code, pasted as is in the repository."""
    return f"{demo_command_env()} {demo_python()} manage.py totp_code {username}"
