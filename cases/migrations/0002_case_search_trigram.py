"""Trigram indexes for case text search (PostgreSQL only; SQLite's `make run` scans, which is fine
at demo size). The expressions match what cases.selectors.case_list filters on: UPPER(column)."""

from django.db import migrations

INDEXES = (
    ("case_reference_trgm", "reference"),
    ("case_title_trgm", "title"),
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON cases_case USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
