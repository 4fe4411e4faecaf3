"""Periodic work of the agencies app: thin tasks that call a service."""

from __future__ import annotations

from celery import shared_task

from agencies.services import login_failure_summaries_write


@shared_task(ignore_result=True)
def login_failure_summaries_task() -> int:
    return login_failure_summaries_write()
