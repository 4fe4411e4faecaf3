from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from exchange import keystore


class Command(BaseCommand):
    help = (
        "Re-wrap every private key and partner token under KEY_ENCRYPTION_KEY, reading the old ones with "
        "KEY_ENCRYPTION_KEY_PREVIOUS. The node keeps running throughout; re-running is harmless."
    )

    def handle(self, *args, **options):
        old = keystore.previous_kek()
        if old is None:
            raise CommandError(
                "Set KEY_ENCRYPTION_KEY_PREVIOUS to the old key (and KEY_ENCRYPTION_KEY to the new one)."
            )
        if settings.KEY_ENCRYPTION_KEY == settings.KEY_ENCRYPTION_KEY_PREVIOUS:
            raise CommandError("The new and previous keys are the same.")
        with transaction.atomic():
            count = keystore.kek_rotate(old_kek=old, new_kek=keystore.node_kek())
            audit_record(action=Action.KEY_ROTATE, actor=SYSTEM_ACTOR, object_type="kek", details={"rewrapped": count})
        self.stdout.write(self.style.SUCCESS(f"Re-wrapped {count} key set(s). Now remove KEY_ENCRYPTION_KEY_PREVIOUS."))
