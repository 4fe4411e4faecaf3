from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from agencies.models import Agency
from audit.capture import SYSTEM_ACTOR
from hashsets.formats.records import Scheme
from hashsets.models import HashSet
from hashsets.services import hashset_import_run, import_job_create


class Command(BaseCommand):
    help = "Import a hash set file (VICS 2.0/1.x JSON, CSV, ICSE CSV, hash list) into an agency's hash set."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--agency", required=True, help="Code of the owning agency, e.g. NSP.")
        parser.add_argument("--set", dest="set_name", required=True, help="Hash set name (created if missing).")
        parser.add_argument("--scheme", choices=[s.value for s in Scheme], help="Override the file's category scheme.")
        parser.add_argument("--format", dest="fmt", choices=["vics2", "vics1", "csv", "icse", "hashlist"])
        parser.add_argument("--dry-run", action="store_true", help="Check and count, then keep nothing.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the valid records, list the rest.")

    def handle(self, *args, file, agency, set_name, scheme, fmt, dry_run, skip_invalid, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path} is not a readable file.")
        owner = Agency.objects.filter(code=agency).first()
        if owner is None:
            raise CommandError(f"No agency with code {agency!r} on this node.")
        hashset, _ = HashSet.objects.get_or_create(
            owner=owner, name=set_name, defaults={"scheme": scheme or Scheme.VIC_US}
        )
        job = import_job_create(
            acting_user=None, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=scheme,
            dry_run=dry_run,
        )  # fmt: skip
        bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="importing", file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        job = hashset_import_run(
            job=job, path=path, actor=SYSTEM_ACTOR, fmt=fmt, skip_invalid=skip_invalid, progress=progress
        )
        bar.close()
        if job.status == job.Status.FAILED:
            raise CommandError(f"Nothing was imported: {job.error}")
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {job.records:,} records ({job.format} {job.format_version}, scheme {job.scheme}) into "
                f"{hashset}: {job.media_created:,} new media, {job.classifications_created:,} new and "
                f"{job.classifications_updated:,} updated classifications."
            )
        )
        if job.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped {job.skipped:,} invalid records:"))
            for line in job.skipped_details:
                self.stdout.write(f"  {line}")
