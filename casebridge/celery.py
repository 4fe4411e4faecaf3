"""The Celery app, configured from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casebridge.settings")

app = Celery("casebridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="casebridge.ping")
def ping(value: str) -> str:
    """Round-trip check used by /readyz-style probes and tests."""
    return f"pong:{value}"
