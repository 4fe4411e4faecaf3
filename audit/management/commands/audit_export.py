from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.export import RANGE_FILE, audit_export_write, audit_range_write
from audit.integrator import audit_checkpoint_now
from audit.keys import audit_key_history


class Command(BaseCommand):
    help = (
        "Write the audit log (entries, checkpoints, cosignatures, public key) for offline verification; "
        "with --from/--to, only entries FROM..TO with their inclusion proofs (a range export)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Directory to write (created if missing; must be empty).")
        parser.add_argument("--from", dest="first", type=int, help="First entry index of a range export.")
        parser.add_argument("--to", dest="last", type=int, help="Last entry index (inclusive) of a range export.")

    def handle(self, *args, out: str, first: int | None, last: int | None, **options):
        out_dir = Path(out)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise CommandError(f"{out_dir} is not empty; choose a new directory so no old file is mixed in.")
        if (first is None) != (last is None):
            raise CommandError("--from and --to go together: give both for a range export, or neither.")
        latest = audit_checkpoint_now()
        if first is not None:
            try:
                document = audit_range_write(out_dir, first=first, last=last)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            count, path = len(document["entries"]), out_dir / RANGE_FILE
            details = {"entries": count, "range": {"first": first, "last": last}, "via": "manage.py audit_export"}
            summary = f"Exported entries {first} to {last} with inclusion proofs to {path}."
        else:

            def progress(written: int) -> None:
                self.stderr.write(f"\r  {written:,} entries written", ending="")

            manifest = audit_export_write(out_dir, progress=progress)
            self.stderr.write("")
            path = out_dir
            details = {"entries": manifest["entries"], "via": "manage.py audit_export"}
            summary = (
                f"Exported {manifest['entries']:,} entries and {manifest['checkpoints']:,} checkpoints to {out_dir}."
            )
        with transaction.atomic():
            audit_record(
                action=Action.AUDIT_EXPORT,
                actor=SYSTEM_ACTOR,
                object_type="audit_log",
                details=details,
                purpose={"code": "audit"},
            )
        keys = " ".join(f"--key {period.vkey}" for period in audit_key_history(below=latest.size if latest else 0))
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary}\nVerify anywhere with: python -m audit.verify {path} {keys}\n"
                "(compare those keys with the ones your agency publishes, or use your own pinned --key-file)"
            )
        )
