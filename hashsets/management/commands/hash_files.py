from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hashsets.hashing import hash_tree, write_manifest


class Command(BaseCommand):
    help = (
        "Hash every file under DIR (MD5, SHA-1, SHA-256, and PDQ for pictures) into a manifest of digests. "
        "Files never leave this machine: the manifest holds no names or paths."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--out", required=True, help="Manifest CSV to write.")
        parser.add_argument("--workers", type=int, default=2, help="Processes to use (default 2).")

    def handle(self, *args, directory, out, workers, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        total = sum(1 for path in root.rglob("*") if path.is_file() and not path.is_symlink())
        bar = tqdm(total=total, unit="file", desc="hashing", file=sys.stderr)
        skipped: list[str] = []

        def progress(*_args) -> None:
            bar.update(1)

        def collect():
            for digests in hash_tree(root, workers=workers, progress=progress):
                if digests.error:
                    skipped.append(digests.error)
                yield digests

        with open(out, "w", encoding="utf-8", newline="") as handle:
            written = write_manifest(collect(), handle)
        bar.close()
        self.stdout.write(self.style.SUCCESS(f"Hashed {written:,} files into {out}."))
        if skipped:
            self.stdout.write(self.style.WARNING(f"{len(skipped)} file(s) had problems (recorded in the manifest):"))
            for reason in skipped[:20]:
                self.stdout.write(f"  {reason}")
