from __future__ import annotations

from celery import shared_task


@shared_task(name="audit.tasks.audit_integrate_task", ignore_result=True)
def audit_integrate_task() -> int:
    from audit.integrator import audit_integrate

    return audit_integrate()
