"""The task queue is down: what the user asked for is kept, nobody gets a server error, and the
work is done once the broker is back.

The broker here is real and really unreachable: Celery is pointed at a closed loopback port and
sends for real (not eagerly), so the failure is the one kombu raises in production.
"""

from __future__ import annotations

import os
import resource
import signal
from contextlib import contextmanager

import pytest
from kombu import pools as kombu_pools

from audit.capture import SYSTEM_ACTOR
from casebridge.celery import app as celery_app
from exchange.models import Bundle
from exchange.tasks import outbox_sweep_task
from hashsets.exchange_kinds import hashset_publish
from hashsets.models import HashSet, HashSetImport, Media
from hashsets.services import hashset_import_run, import_job_create
from tests.hashsets.factories import vics2_file, vics2_records

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

DEAD_BROKER = "redis://127.0.0.1:9/0"  # discard port: nothing listens, connections are refused at once


def _connections_forget() -> None:
    """Drop Celery's and kombu's connection and producer pools: the next send connects to the broker configured now."""
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_down():
    saved = {"task_always_eager": celery_app.conf.task_always_eager, "broker_url": celery_app.conf.broker_url}
    saved_environ = os.environ.get("CELERY_BROKER_URL")  # Celery prefers it over its configuration
    _connections_forget()
    celery_app.conf.update(task_always_eager=False, broker_url=DEAD_BROKER)
    os.environ["CELERY_BROKER_URL"] = DEAD_BROKER
    try:
        yield
    finally:
        _connections_forget()
        celery_app.conf.update(**saved)
        if saved_environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_environ


@pytest.fixture
def shared_set(agency_a, tmp_path):
    hashset = HashSet.objects.create(owner=agency_a, name="NSP shared", tlp="GREEN")
    job = import_job_create(acting_user=None, hashset=hashset, file_name="x", total_bytes=1, scheme=None)
    path = vics2_file(tmp_path / "set.json", vics2_records(40))
    assert hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR).status == "done"
    return hashset


def test_share_while_the_broker_is_down_is_kept_and_sent_by_the_sweep_later(
    partnership, alice, shared_set, django_capture_on_commit_callbacks, caplog
):
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        bundles = hashset_publish(acting_user=alice, hashset=shared_set, recipient_codes=["RNP"])
    [bundle] = bundles
    bundle.refresh_from_db()
    assert bundle.state == Bundle.State.PENDING and bundle.attempts == 0  # kept, not sent
    assert "task queue unavailable" in caplog.text

    # The broker is back (eager again): the periodic sweep finds the bundle and delivers it.
    assert outbox_sweep_task() == 1
    bundle.refresh_from_db()
    assert bundle.state == Bundle.State.APPLIED
    assert Bundle.objects.get(direction="in", bundle_id=bundle.bundle_id).state == Bundle.State.APPLIED


def test_import_upload_while_the_broker_is_down_fails_cleanly(
    client, as_user, alice, agency_a, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    hashset = HashSet.objects.create(owner=agency_a, name="Mine")
    as_user(alice)
    path = vics2_file(tmp_path / "set.json", vics2_records(12))
    with broker_down(), path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/hashsets/{hashset.pk}/import/", {"file": handle, "scheme": ""})
    job = HashSetImport.objects.get()
    assert response.status_code == 302 and response.url == f"/hashsets/imports/{job.pk}/"
    assert job.status == HashSetImport.Status.FAILED
    page = client.get(response.url).content.decode()
    assert "task queue is unavailable" in page and "upload the file again" in page
    assert not list((tmp_path / "uploads" / "imports").iterdir())  # the upload is not left behind
    assert not Media.objects.exists()


@contextmanager
def file_size_quota(limit: int):
    """What a disk quota does to a writer: files of this process cannot grow past `limit` (EFBIG)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_import_upload_onto_a_full_disk_fails_cleanly(client, as_user, alice, agency_a, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    hashset = HashSet.objects.create(owner=agency_a, name="Mine")
    as_user(alice)
    path = vics2_file(tmp_path / "set.json", vics2_records(3000))  # ~400 KB, held in memory by Django
    assert path.stat().st_size > 256 * 1024
    with path.open("rb") as handle, file_size_quota(64 * 1024):
        response = client.post(f"/hashsets/{hashset.pk}/import/", {"file": handle, "scheme": ""})
    job = HashSetImport.objects.get()
    assert response.status_code == 302 and response.url == f"/hashsets/imports/{job.pk}/"
    assert job.status == HashSetImport.Status.FAILED
    assert "could not store the upload (File too large)" in job.error
    assert not list((tmp_path / "uploads" / "imports").iterdir())  # no half-written upload left
    assert not Media.objects.exists()
