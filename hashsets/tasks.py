from __future__ import annotations

from pathlib import Path

from celery import shared_task


@shared_task(name="hashsets.tasks.hashset_import_task", acks_late=True)
def hashset_import_task(import_id: int, upload_path: str, skip_invalid: bool = False) -> str:
    """Run a queued import from its uploaded file, then delete the upload."""
    from audit.capture import actor_for_user
    from hashsets.models import HashSetImport
    from hashsets.services import hashset_import_run

    job = HashSetImport.objects.select_related("hashset__owner", "started_by__membership__agency").get(pk=import_id)
    if job.status in (HashSetImport.Status.DONE, HashSetImport.Status.FAILED):
        return job.status  # a redelivered message after the work was done: nothing to repeat
    path = Path(upload_path)
    try:
        job = hashset_import_run(
            job=job, path=path, actor=actor_for_user(job.started_by, auth="password+totp"), skip_invalid=skip_invalid
        )
    finally:
        path.unlink(missing_ok=True)
    return job.status
