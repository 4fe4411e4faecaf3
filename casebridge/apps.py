from __future__ import annotations

from django.apps import AppConfig


class CasebridgeConfig(AppConfig):
    name = "casebridge"
    verbose_name = "Casebridge"

    def ready(self) -> None:
        # Bind shared tasks to the project's Celery app in every process (web, worker, tests).
        from casebridge import checks  # noqa: F401 - registers the deployment checks
        from casebridge.celery import app  # noqa: F401
