from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from audit import verify
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.keys import audit_vkeys_to_pin


class Command(BaseCommand):
    help = (
        "Verify an audit export directory or range export offline (same checks and options as "
        "`python -m audit.verify PATH`); without --key/--key-file, this node's own keys are pinned."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="An export directory or a range export file.")
        parser.add_argument("--json", action="store_true", help="Print a machine-readable result.")
        parser.add_argument("--key", action="append", default=[], help="A log vkey to pin instead of this node's.")
        parser.add_argument("--key-file", help="A file of log vkeys to pin instead of this node's.")
        parser.add_argument("--witness-key", action="append", default=[], help="A witness vkey to pin.")

    def handle(self, *args, directory: str, json: bool, key: list[str], key_file: str | None, **options):
        argv = [directory] + (["--json"] if json else [])
        pins = key if (key or key_file) else audit_vkeys_to_pin()
        argv += [arg for pin in pins for arg in ("--key", pin)]
        if key_file:
            argv += ["--key-file", key_file]
        argv += [arg for pin in options["witness_key"] for arg in ("--witness-key", pin)]
        try:
            code = verify.main(argv)
        except SystemExit as exc:  # argparse: a pin that is not a vkey
            code = exc.code if isinstance(exc.code, int) else 2
        with transaction.atomic():
            audit_record(
                action=Action.AUDIT_VERIFY,
                actor=SYSTEM_ACTOR,
                outcome=Outcome.SUCCESS if code == 0 else Outcome.FAILURE,
                object_type="audit_export",
                details={
                    "via": "manage.py audit_verify",
                    "exit_code": code,
                    "pinned": "given" if (key or key_file) else "node",
                },
            )
        if code:
            sys.exit(code)
