"""The pending queue refuses UPDATE (issue 14): an entry cannot be changed before it is integrated.

Re-runs the idempotent installer (CREATE OR REPLACE / IF NOT EXISTS), which now also covers
`audit_pending`; the reverse drops only the new trigger.
"""

from __future__ import annotations

from django.db import migrations


def install(apps, schema_editor):
    from audit.db import append_only_install

    append_only_install(schema_editor.connection)


def remove(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS audit_pending_no_update ON audit_pending")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_pending_no_update")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]
    operations = [migrations.RunPython(install, remove, elidable=False)]
