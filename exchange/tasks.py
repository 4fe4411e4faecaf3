from __future__ import annotations

from celery import shared_task

from casebridge.lib.queue import enqueue


@shared_task(name="exchange.tasks.outbox_deliver_task", acks_late=True, ignore_result=True)
def outbox_deliver_task(bundle_pk: int) -> None:
    from exchange.delivery import outbox_deliver

    outbox_deliver(bundle_pk)


@shared_task(name="exchange.tasks.outbox_sweep_task", ignore_result=True)
def outbox_sweep_task() -> int:
    """Re-enqueue every due outbox bundle: a lost broker message or a dead worker only delays delivery.
    Also apply received bundles whose apply died with its process (the receive had committed)."""
    from exchange.delivery import outbox_due
    from exchange.inbox import inbox_resume

    inbox_resume()
    due = outbox_due()
    for pk in due:
        enqueue(outbox_deliver_task, pk)
    return len(due)


@shared_task(name="exchange.tasks.witness_all_task", ignore_result=True)
def witness_all_task() -> int:
    """Ask every remote partner node to cosign our latest audit checkpoint."""
    from exchange.witness import witness_all

    return witness_all()


@shared_task(name="exchange.tasks.quarantine_expire_task", ignore_result=True)
def quarantine_expire_task() -> dict[str, int]:
    """Expire the quarantine: old rejected bundles lose their file, then their row (L2)."""
    from exchange.inbox import quarantine_expire

    return quarantine_expire()
