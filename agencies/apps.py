from __future__ import annotations

from django.apps import AppConfig


class AgenciesConfig(AppConfig):
    name = "agencies"
    verbose_name = "Agencies and users"

    def ready(self) -> None:
        from agencies import schema  # noqa: F401 - registers the OpenAPI authentication extensions
