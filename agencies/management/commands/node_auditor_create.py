"""`manage.py node_auditor_create USERNAME`: the node-level auditor account (no agency)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.capture import Actor
from casebridge.errors import CasebridgeError


class Command(BaseCommand):
    help = (
        "Create a node auditor: a user of no agency who reads the node-level audit entries (failed logins "
        "of unknown users, witness cosigning, bundles rejected that were addressed to no agency here) and "
        "the tree and checkpoints, never an agency's entries. Prints the initial password once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")

    def handle(self, *args, username: str, email: str, **options):
        from agencies.services import node_auditor_create

        actor = Actor(type="system", name="manage.py node_auditor_create", auth="command")
        try:
            created = node_auditor_create(actor=actor, username=username, email=email)
        except CasebridgeError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(f"Node auditor {created.user.get_username()} created.")
            + f"\nInitial password (shown once): {created.password}\n"
            "The one-time code device is enrolled at the first login."
        )
