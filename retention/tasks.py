from __future__ import annotations

from celery import shared_task


@shared_task(name="retention.tasks.retention_sweep", ignore_result=True)
def retention_sweep() -> dict:
    """Erase every record past its deadline (hourly, from the beat schedule). Idempotent."""
    from retention.services import retention_sweep as sweep

    result = sweep()
    return {"erased": result.erased, "refused": result.refused, "failed": result.failed}
