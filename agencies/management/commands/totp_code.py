from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from agencies.demo import demo_allowed
from agencies.models import Authenticator


class Command(BaseCommand):
    help = "Print the current one-time code of a demo user (DEMO or DEBUG only), for logging in without a phone."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        # A node's real users' codes must never be printable: demo nodes only.
        if not demo_allowed():
            raise CommandError("totp_code only runs with DEMO=1 or DEBUG=1.")
        device = Authenticator.objects.filter(user__username=username, confirmed=True).first()
        if device is None:
            raise CommandError(f"{username} has no confirmed authenticator.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
        self.stdout.write(f"{code:0{device.digits}d}")
