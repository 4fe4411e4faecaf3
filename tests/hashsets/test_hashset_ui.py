from __future__ import annotations

import pytest

from hashsets.models import HashSet, HashSetImport, Media
from tests.hashsets.factories import vics2_file, vics2_records

pytestmark = pytest.mark.django_db


def test_create_upload_import_and_see_result(
    client, as_user, alice, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    as_user(alice)
    response = client.post("/hashsets/new/", {"name": "Mine", "description": "", "tlp": "AMBER", "scheme": "vic_us"})
    hashset = HashSet.objects.get(name="Mine")
    assert response.status_code == 302
    path = vics2_file(tmp_path / "set.json", vics2_records(12))
    with path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(f"/hashsets/{hashset.pk}/import/", {"file": handle, "scheme": ""})
    # the import task is dispatched after commit, not inside the request's transaction
    assert any("enqueue_on_commit" in getattr(cb, "__qualname__", "") for cb in callbacks)
    job = HashSetImport.objects.get()
    assert response.url == f"/hashsets/imports/{job.pk}/"
    page = client.get(response.url)
    assert job.__class__.objects.get().status == "done"
    assert "12 records read" in page.content.decode()
    assert Media.objects.count() == 12
    assert not list((tmp_path / "uploads" / "imports").iterdir())  # the upload is deleted after import
    status = client.get(response.url + "?format=json").json()
    assert status == {"status": "done", "percent": 100, "records": 12, "error": ""}


def test_other_agency_gets_404_and_auditor_403(client, as_user, alice, charlie, audrey, agency_a):
    hashset = HashSet.objects.create(owner=agency_a, name="secret")
    as_user(charlie)
    assert client.get(f"/hashsets/{hashset.pk}/").status_code == 404
    assert client.get(f"/hashsets/{hashset.pk}/export/?format=vics2").status_code == 404
    as_user(audrey)
    assert client.get("/hashsets/").status_code == 403


def test_investigator_of_other_agency_cannot_import_into_it(client, as_user, charlie, agency_a, tmp_path):
    hashset = HashSet.objects.create(owner=agency_a, name="secret")
    hashset.shared_with.add(charlie.membership.agency)  # can see it, cannot change it
    as_user(charlie)
    path = vics2_file(tmp_path / "set.json", vics2_records(1))
    with path.open("rb") as handle:
        client.post(f"/hashsets/{hashset.pk}/import/", {"file": handle})
    assert not HashSetImport.objects.exists()


def test_export_download(client, as_user, alice, agency_a, tmp_path):
    from audit.capture import SYSTEM_ACTOR
    from hashsets.services import hashset_import_run, import_job_create

    hashset = HashSet.objects.create(owner=agency_a, name="mine")
    path = vics2_file(tmp_path / "set.json", vics2_records(3))
    job = import_job_create(acting_user=None, hashset=hashset, file_name="x", total_bytes=1, scheme=None)
    hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    as_user(alice)
    response = client.get(f"/hashsets/{hashset.pk}/export/", {"format": "vics2"})
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and "@odata.context" in body and "attachment" in response["Content-Disposition"]
