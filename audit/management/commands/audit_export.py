from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.export import audit_export_write
from audit.integrator import audit_checkpoint_now


class Command(BaseCommand):
    help = "Write the audit log (entries, checkpoints, cosignatures, public key) for offline verification."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Directory to write (created if missing; must be empty).")

    def handle(self, *args, out: str, **options):
        out_dir = Path(out)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise CommandError(f"{out_dir} is not empty; choose a new directory so no old file is mixed in.")
        audit_checkpoint_now()

        def progress(count: int) -> None:
            self.stderr.write(f"\r  {count:,} entries written", ending="")

        manifest = audit_export_write(out_dir, progress=progress)
        with transaction.atomic():
            audit_record(
                action=Action.AUDIT_EXPORT,
                actor=SYSTEM_ACTOR,
                object_type="audit_log",
                details={"entries": manifest["entries"], "via": "manage.py audit_export"},
                purpose={"code": "audit"},
            )
        self.stderr.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {manifest['entries']:,} entries and {manifest['checkpoints']:,} checkpoints to {out_dir}.\n"
                f"Verify anywhere with: python -m audit.verify {out_dir}"
            )
        )
