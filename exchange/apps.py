from __future__ import annotations

from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange with partner agencies"

    def ready(self) -> None:
        from exchange import schema  # noqa: F401 - registers the OpenAPI authentication extension
