from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from agencies.demo import demo_allowed, demo_code_hint
from casebridge.demo import demo_content_seed


class Command(BaseCommand):
    help = (
        "Create two demo agencies with one user of each role, partnered, with hash sets and a case "
        "(DEMO or DEBUG only; safe to run twice)."
    )

    def handle(self, *args, **options):
        if not demo_allowed():
            raise CommandError("seed_demo only runs with DEMO=1 or DEBUG=1: demo users have published passwords.")
        users = demo_content_seed()
        self.stdout.write(self.style.SUCCESS("Demo agencies and users are ready.") + "\n")
        self.stdout.write(f"{'username':<22} {'agency':<6} {'role':<13} TOTP secret (base32)")
        for user in users:
            self.stdout.write(f"{user.username:<22} {user.agency:<6} {user.role:<13} {user.totp_secret_b32}")
        self.stdout.write(f"\nPassword for every demo user: {users[0].password}")
        # Printed so that it works pasted as is in the repository directory (issue 19).
        self.stdout.write(f"Current one-time code for a user: {demo_code_hint('nsp.investigator')}")
