from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.keys import signing_key_from_file
from audit.rotation import CAUSES, RotationError, audit_key_rotate


class Command(BaseCommand):
    help = (
        "Hand the audit log over to a new signing key (docs/operations.md, section 3). Run with the "
        "current key configured; the new key is read from a file and never stored by the node."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--new-key-file", required=True, help="File holding the new key's base64 Ed25519 seed (mode 0400)."
        )
        parser.add_argument("--cause", required=True, choices=CAUSES, help="Why the key is rotated (recorded).")

    def handle(self, *args, new_key_file: str, cause: str, **options):
        try:
            new_key = signing_key_from_file(Path(new_key_file))
            checkpoint = audit_key_rotate(new_key, cause=cause)
        except (ImproperlyConfigured, RotationError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"The audit log is handed over at size {checkpoint.size}; that checkpoint is signed by both keys.\n"
                f"Now point AUDIT_SIGNING_KEY_FILE at {new_key_file} in every process (web, worker, beat, "
                "integrator) and restart them: until then entries are recorded but no checkpoint is signed.\n"
                "Give the new vkey (the last line of key-history.jsonl in the next export) to the auditors "
                "and partners."
            )
        )
