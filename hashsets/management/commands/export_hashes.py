from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from agencies.models import Agency
from audit.capture import SYSTEM_ACTOR
from hashsets.formats import EXPORT_FORMATS
from hashsets.formats.records import Category
from hashsets.models import HashSet
from hashsets.services import hashset_export


class Command(BaseCommand):
    help = "Export a hash set (VICS 2.0 / 1.3, CSV, ICSE, digest lists) to standard output or a file."

    def add_arguments(self, parser):
        parser.add_argument("--set", dest="set_name", required=True)
        parser.add_argument("--agency", help="Owning agency code (needed when several agencies have the name).")
        parser.add_argument("--format", dest="fmt", choices=list(EXPORT_FORMATS), default="vics2")
        parser.add_argument("--scheme", help="Category scheme of a VICS export (vic_us, uk_caid, custom, dhs).")
        parser.add_argument("--category", action="append", choices=[c.value for c in Category])
        parser.add_argument("--series")
        parser.add_argument("--out", help="File to write (default: standard output).")

    def handle(self, *args, set_name, agency, fmt, scheme, category, series, out, **options):
        sets = HashSet.objects.filter(name=set_name)
        if agency:
            if not Agency.objects.filter(code=agency).exists():
                raise CommandError(f"No agency with code {agency!r}.")
            sets = sets.filter(owner__code=agency)
        if sets.count() != 1:
            raise CommandError(
                f"{sets.count()} hash sets are named {set_name!r}; name the owner with --agency."
                if sets.count()
                else f"No hash set named {set_name!r}."
            )
        hashset = sets.get()
        try:
            if out:
                with open(out, "w", encoding="utf-8", newline="") as handle:
                    written = hashset_export(
                        actor=SYSTEM_ACTOR, hashset=hashset, fmt=fmt, out=handle, scheme=scheme,
                        categories=category, series=series,
                    )  # fmt: skip
                self.stderr.write(f"Wrote {written:,} records to {out}.")
            else:
                hashset_export(
                    actor=SYSTEM_ACTOR, hashset=hashset, fmt=fmt, out=sys.stdout, scheme=scheme,
                    categories=category, series=series,
                )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
