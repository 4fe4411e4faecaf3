"""A task round-trips through the real Redis broker to a real worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.broker


@pytest.fixture
def celery_worker_process(tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL pointing at Redis (make test sets it)")
    backend = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/14"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, CELERY_TASK_ALWAYS_EAGER="0", CELERY_RESULT_BACKEND=backend)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "casebridge",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "w"),
    )
    yield backend, queue
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_task_round_trips_through_redis(celery_worker_process):
    backend, queue = celery_worker_process
    client = Celery(broker=settings.CELERY_BROKER_URL, backend=backend)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    token = uuid.uuid4().hex
    result = client.send_task("casebridge.ping", args=[token], queue=queue)
    assert result.get(timeout=60) == f"pong:{token}"


def test_celery_refuses_pickle():
    from casebridge.celery import app

    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json" and app.conf.result_serializer == "json"
    assert app.conf.task_acks_late is True
