"""Handing work to Celery without letting a broker outage fail the request that asked for it.

Everything sent here is also found again by a periodic sweep (outbox bundles by
`exchange.tasks.outbox_sweep_task`, the audit log by the integrator's beat entry) or is marked
failed by the caller, so a message the broker never took only delays the work: the user's action
itself has been committed and must not be answered with a server error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

logger = logging.getLogger(__name__)


def enqueue(task, *args, on_unavailable: Callable[[], None] | None = None) -> bool:
    """`task.delay(*args)`; False (logged, `on_unavailable` called) when the broker cannot be reached."""
    try:
        task.delay(*args)
    except (BrokerUnavailable, OSError) as exc:
        logger.warning("task queue unavailable, %s%r not sent now: %s", task.name, args, exc)
        if on_unavailable is not None:
            on_unavailable()
        return False
    return True


def enqueue_on_commit(task, *args, on_unavailable: Callable[[], None] | None = None) -> None:
    """`enqueue` once the current transaction has committed (never for work that was rolled back)."""
    transaction.on_commit(lambda: enqueue(task, *args, on_unavailable=on_unavailable))
