from __future__ import annotations

from django.apps import AppConfig


class HashsetsConfig(AppConfig):
    name = "hashsets"
    verbose_name = "Hash sets"

    def ready(self) -> None:
        from hashsets import exchange_kinds  # noqa: F401 - registers hashset.snapshot and hashset.delta
