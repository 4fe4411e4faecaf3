from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from hashsets.models import Classification, HashSet, HashSetImport, Media
from hashsets.services import hashset_export, hashset_import_run, import_job_create
from tests.hashsets.factories import digests, vics2_file, vics2_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def nsp_set(agency_a):
    return HashSet.objects.create(owner=agency_a, name="NSP known", scheme="vic_us")


def _import(hashset, path, **kwargs):
    job = import_job_create(
        acting_user=None, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size,
        scheme=kwargs.pop("scheme", None), dry_run=kwargs.pop("dry_run", False),
    )  # fmt: skip
    return hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR, **kwargs)


def test_vics2_import_creates_media_and_classifications(tmp_path, nsp_set):
    path = vics2_file(tmp_path / "set.json", vics2_records(25, series="Series Alpha"))
    job = _import(nsp_set, path)
    assert job.status == HashSetImport.Status.DONE, job.error
    assert (job.format, job.format_version, job.records) == ("vics2", "2.0", 25)
    assert job.media_created == 25 and job.classifications_created == 25
    assert len(job.file_sha256) == 64
    c = Classification.objects.select_related("media").get(media__md5=bytes.fromhex(digests(3)["MD5"]))
    assert c.category == "csam_ungraded" and c.category_code == "1" and c.victim_identified is False
    assert [s.name for s in c.series.all()] == ["Series Alpha"]
    audit_integrate()
    entry = AuditEntry.objects.get(action="hashset.import")
    details = json.loads(entry.canonical)["details"]
    assert details["records"] == 25 and details["file_sha256"] == job.file_sha256


def test_reimport_updates_instead_of_duplicating(tmp_path, nsp_set):
    path = vics2_file(tmp_path / "set.json", vics2_records(10))
    _import(nsp_set, path)
    changed = vics2_file(tmp_path / "set2.json", vics2_records(12, category=0))
    job = _import(nsp_set, changed)
    assert job.media_created == 2 and job.classifications_created == 2 and job.classifications_updated == 10
    assert Media.objects.count() == 12
    assert set(Classification.objects.values_list("category", flat=True)) == {"non_pertinent"}


def test_invalid_record_imports_nothing_and_names_record_and_field(tmp_path, nsp_set):
    records = vics2_records(10)
    records[6]["MD5"] = records[6]["MD5"][:-1]
    job = _import(nsp_set, vics2_file(tmp_path / "bad.json", records))
    assert job.status == HashSetImport.Status.FAILED
    assert "record 7" in job.error and "MD5" in job.error
    assert not Media.objects.exists() and not Classification.objects.exists()
    audit_integrate()
    failure = AuditEntry.objects.get(action="hashset.import")
    assert failure.outcome == "failure" and "record 7" in json.loads(failure.canonical)["reason"]


def test_skip_invalid_imports_the_rest_and_lists_every_skipped(tmp_path, nsp_set):
    records = vics2_records(10)
    records[2]["MD5"] = "XYZ"
    records[8]["SHA1"] = "00"
    job = _import(nsp_set, vics2_file(tmp_path / "bad.json", records), skip_invalid=True)
    assert job.status == HashSetImport.Status.DONE
    assert job.records == 8 and job.skipped == 2
    assert any("record 3" in line for line in job.skipped_details)
    assert any("record 9" in line for line in job.skipped_details)


def test_dry_run_counts_and_keeps_nothing(tmp_path, nsp_set):
    job = _import(nsp_set, vics2_file(tmp_path / "set.json", vics2_records(5)), dry_run=True)
    assert job.records == 5 and job.media_created == 5
    assert not Media.objects.exists()


def test_conflicting_digests_in_one_record_are_refused(tmp_path, nsp_set):
    a, b = digests(1), digests(2)
    _import(
        nsp_set,
        vics2_file(
            tmp_path / "one.json",
            [{"MediaID": 1, "Category": 1, "MD5": a["MD5"]}, {"MediaID": 2, "Category": 1, "SHA1": b["SHA1"]}],
        ),
    )
    mixed = [{"MediaID": 9, "Category": 1, "MD5": a["MD5"], "SHA1": b["SHA1"]}]
    job = _import(nsp_set, vics2_file(tmp_path / "mixed.json", mixed))
    assert job.status == HashSetImport.Status.FAILED and "two different known media" in job.error


@pytest.mark.parametrize("fmt", ["vics2", "vics13", "csv", "icse"])
def test_export_reimports_to_the_same_classifications(tmp_path, nsp_set, agency_a, fmt):
    _import(nsp_set, vics2_file(tmp_path / "set.json", vics2_records(30, series="S1")))
    out = io.StringIO()
    written = hashset_export(actor=SYSTEM_ACTOR, hashset=nsp_set, fmt=fmt, out=out)
    assert written == 30
    (tmp_path / "export").write_text(out.getvalue(), encoding="utf-8")
    copy = HashSet.objects.create(owner=agency_a, name=f"copy-{fmt}", scheme="vic_us")
    job = _import(copy, tmp_path / "export")
    assert job.status == HashSetImport.Status.DONE, job.error
    assert job.media_created == 0 and job.records == 30

    def summary(hashset):
        rows = Classification.objects.filter(hashset=hashset).values_list("media_id", "category", "distributed")
        return sorted(rows)

    if fmt in ("vics2", "vics13", "csv"):
        assert summary(copy) == summary(nsp_set)
    else:  # ICSE carries flags, not categories
        assert {m for m, _, _ in summary(copy)} == {m for m, _, _ in summary(nsp_set)}


def test_export_is_audited(tmp_path, nsp_set):
    _import(nsp_set, vics2_file(tmp_path / "set.json", vics2_records(3)))
    hashset_export(actor=SYSTEM_ACTOR, hashset=nsp_set, fmt="md5list", out=io.StringIO())
    audit_integrate()
    assert AuditEntry.objects.filter(action="hashset.export").exists()


def test_csv_export_neutralises_formulas(tmp_path, nsp_set):
    records = vics2_records(1)
    records[0]["Comments"] = '=HYPERLINK("http://x")'
    _import(nsp_set, vics2_file(tmp_path / "set.json", records))
    out = io.StringIO()
    hashset_export(actor=SYSTEM_ACTOR, hashset=nsp_set, fmt="csv", out=out)
    assert "'=HYPERLINK" in out.getvalue()


def test_import_command_dry_run_and_errors(tmp_path, agency_a, capsys):
    path = vics2_file(tmp_path / "set.json", vics2_records(4))
    call_command("import_hashes", str(path), agency="NSP", set_name="cmd", dry_run=True)
    assert "Would import 4 records" in capsys.readouterr().out
    assert not Media.objects.exists()
    call_command("import_hashes", str(path), agency="NSP", set_name="cmd")
    assert Media.objects.count() == 4
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No agency"):
        call_command("import_hashes", str(path), agency="XXX", set_name="cmd")
    bad = tmp_path / "bad.txt"
    bad.write_text("not a hash\n")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_hashes", str(bad), agency="NSP", set_name="cmd")


def test_export_command_to_stdout(tmp_path, agency_a, capsys):
    path = vics2_file(tmp_path / "set.json", vics2_records(2))
    call_command("import_hashes", str(path), agency="NSP", set_name="cmd")
    capsys.readouterr()
    call_command("export_hashes", set_name="cmd", fmt="md5list")
    lines = capsys.readouterr().out.split()
    assert sorted(lines) == sorted(digests(n)["MD5"].lower() for n in range(2))
