from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from audit.integrator import audit_integrate


class Command(BaseCommand):
    help = "Run the audit integrator loop: index pending entries and sign checkpoints (one per node suffices)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.25, help="Seconds between passes (default 0.25).")
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, interval: float, once: bool, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            close_old_connections()
            try:
                added = audit_integrate()
            except Exception as exc:  # noqa: BLE001 - keep the loop alive across a database restart
                self.stderr.write(f"integration failed, retrying: {exc.__class__.__name__}: {exc}")
                added = 0
                time.sleep(min(5.0, interval * 8))
            if once or stopping:
                return
            if not added:
                time.sleep(interval)
