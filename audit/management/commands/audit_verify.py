from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from audit import verify
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, audit_record


class Command(BaseCommand):
    help = "Verify an audit export directory offline (same checks as `python -m audit.verify DIR`)."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--json", action="store_true", help="Print a machine-readable result.")

    def handle(self, *args, directory: str, json: bool, **options):
        argv = [directory] + (["--json"] if json else [])
        code = verify.main(argv)
        with transaction.atomic():
            audit_record(
                action=Action.AUDIT_VERIFY,
                actor=SYSTEM_ACTOR,
                outcome=Outcome.SUCCESS if code == 0 else Outcome.FAILURE,
                object_type="audit_export",
                details={"via": "manage.py audit_verify", "exit_code": code},
            )
        if code:
            sys.exit(code)
