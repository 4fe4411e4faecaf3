from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases and victim identification"

    def ready(self) -> None:
        from cases import exchange_kinds  # noqa: F401 - registers lead.share / lead.update, wires the outbox
