"""Benchmark hash-set import (VICS 2.0 JSON and CSV) against a raw ``psql \\copy`` of the same rows.

    .venv/bin/python benchmarks/hashsets_import.py [--records 1000000] [--runs 3] [--tmpdir DIR]

Creates the database ``casebridge_bench_hashsets_import`` and writes, in a temporary directory,
``--records`` made-up records (MD5 and SHA-1 of ``benign-bench-<n>``, a Project VIC category, two
flags) twice: as a VICS 2.0 JSON file and as a CSV file (md5, sha1, scheme, category,
victim_identified, distributed). Each run then times, in fresh processes and into empty tables:

* ``import vics2`` / ``import csv``: ``hashsets.services.hashset_import_run`` of the file into an
  empty hash set (parse, COPY staging, set-based merge into ``hashsets_media`` and
  ``hashsets_classification`` with their indexes already in place, audit entry, one
  transaction), in a subprocess whose peak RSS (VmHWM and ru_maxrss) is reported;
* ``raw media`` (baseline, as specified): ``psql -1`` running ``\\copy`` of the CSV into a text
  staging table, ``INSERT ... SELECT decode(md5, 'hex'), decode(sha1, 'hex')`` into a plain
  table with bytea columns, then the same unique indexes (md5, sha1) built afterwards;
* ``raw media+class`` (baseline, closer to what the import stores): the same plus a
  classification table filled by joining on md5, with its unique (hashset, media) index and a
  media index.

The tables are emptied (TRUNCATE) and a CHECKPOINT taken before every timed step. Reported:
median seconds, records/s, import/raw ratios (target <= 2x raw) and peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

NAME = "hashsets_import"
BENCH_QUICK_ARGS = ["--records", "200000", "--runs", "3"]
BENCH_FULL_ARGS = ["--records", "1000000", "--runs", "3"]
VICS2_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
HASHSET_TABLES = (
    "hashsets_classification_series, hashsets_classification, hashsets_media, hashsets_series, "
    "hashsets_hashsetimport, audit_pending, audit_sensitive_value"
)


# --------------------------------------------------------------------------- data


def _digests(n: int) -> tuple[str, str]:
    data = f"benign-bench-{n}".encode()
    return hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest()


def write_files(directory: Path, records: int) -> tuple[Path, Path]:
    vics = directory / "bench.vics2.json"
    csv = directory / "bench.csv"
    with vics.open("w", encoding="utf-8") as jv, csv.open("w", encoding="utf-8") as cv:
        jv.write('{"@odata.context":' + json.dumps(VICS2_CONTEXT) + ',"value":[\n')
        cv.write("md5,sha1,scheme,category,victim_identified,distributed\n")
        json_chunk: list[str] = []
        csv_chunk: list[str] = []
        for n in range(records):
            md5, sha1 = _digests(n)
            category = n % 5
            victim = "true" if n % 7 == 0 else "false"
            distributed = "true" if n % 3 == 0 else "false"
            json_chunk.append(
                f'{{"MediaID":{n + 1},"Category":{category},"MD5":"{md5.upper()}","SHA1":"{sha1.upper()}",'
                f'"VictimIdentified":{victim},"IsDistributed":{distributed}}}'
            )
            csv_chunk.append(f"{md5},{sha1},vic_us,{category},{victim},{distributed}\n")
            if len(csv_chunk) == 10000:
                jv.write(("," if n >= 10000 else "") + ",\n".join(json_chunk))
                cv.write("".join(csv_chunk))
                json_chunk, csv_chunk = [], []
        if json_chunk:
            jv.write(("," if records > len(json_chunk) else "") + ",\n".join(json_chunk))
            cv.write("".join(csv_chunk))
        jv.write("\n]}\n")
    return vics, csv


# --------------------------------------------------------------------------- import worker


def import_worker(path: str, fmt: str) -> int:
    """Subprocess: import `path` into the empty bench hash set; print one JSON line of results."""
    _common.setup_django_from_env()
    from django.db import connection, reset_queries

    from audit.capture import SYSTEM_ACTOR
    from hashsets.models import HashSet
    from hashsets.services import hashset_import_run, import_job_create

    agency = _common.bench_agency()
    hashset, _ = HashSet.objects.get_or_create(owner=agency, name="bench import")
    file = Path(path)
    job = import_job_create(
        acting_user=None, hashset=hashset, file_name=file.name, total_bytes=file.stat().st_size, scheme=None
    )
    before = _common.peak_rss_mib()
    reset_queries()
    started = time.perf_counter()
    job = hashset_import_run(job=job, path=file, actor=SYSTEM_ACTOR, fmt=fmt)
    seconds = time.perf_counter() - started
    after = _common.peak_rss_mib()
    result = {
        "seconds": seconds,
        "status": job.status,
        "error": job.error,
        "records": job.records,
        "media_created": job.media_created,
        "classifications_created": job.classifications_created,
        "rss_before": before,
        "rss": after,
        # DEBUG=1 logs every statement but the COPYs with its time: where the database time went.
        "slowest_statements": [
            [float(q["time"]), " ".join(q["sql"].split())[:90]]
            for q in sorted(connection.queries, key=lambda q: -float(q["time"]))[:8]
        ],
    }
    print("RESULT " + json.dumps(result))
    return 0


def run_import(db, path: Path, fmt: str) -> dict:
    out = subprocess.run(
        [_common.PYTHON, __file__, "--worker-import", str(path), "--worker-format", fmt],
        env=db.env,
        cwd=_common.ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


# --------------------------------------------------------------------------- raw baseline

RAW_SCRIPT = """
CREATE TEMP TABLE raw_stage (md5 text, sha1 text, scheme text, category text, victim boolean, distributed boolean)
    ON COMMIT DROP;
\\copy raw_stage FROM '{csv}' WITH (FORMAT csv, HEADER true)
CREATE TABLE raw_media (id bigserial PRIMARY KEY, md5 bytea, sha1 bytea, created_at timestamptz NOT NULL);
INSERT INTO raw_media (md5, sha1, created_at) SELECT decode(md5, 'hex'), decode(sha1, 'hex'), now() FROM raw_stage;
CREATE UNIQUE INDEX raw_media_md5 ON raw_media (md5);
CREATE UNIQUE INDEX raw_media_sha1 ON raw_media (sha1);
"""

RAW_CLASS_SCRIPT = """
CREATE TABLE raw_classification (
    id bigserial PRIMARY KEY, media_id bigint NOT NULL, hashset_id bigint NOT NULL, scheme text NOT NULL,
    category_code text NOT NULL, victim_identified boolean, distributed boolean, created_at timestamptz NOT NULL
);
INSERT INTO raw_classification (media_id, hashset_id, scheme, category_code, victim_identified, distributed, created_at)
    SELECT m.id, 1, s.scheme, s.category, s.victim, s.distributed, now()
    FROM raw_stage s JOIN raw_media m ON m.md5 = decode(s.md5, 'hex');
CREATE UNIQUE INDEX raw_classification_set_media ON raw_classification (hashset_id, media_id);
CREATE INDEX raw_classification_media ON raw_classification (media_id);
"""


def run_raw(db, csv: Path, with_classifications: bool, scratch: Path) -> dict:
    script = scratch / ("raw_class.sql" if with_classifications else "raw.sql")
    script.write_text(RAW_SCRIPT.format(csv=csv) + (RAW_CLASS_SCRIPT if with_classifications else ""))
    started = time.perf_counter()
    _common.psql(db.url, "-1", "-f", str(script))
    seconds = time.perf_counter() - started
    counted = _common.psql(db.url, "-tA", "-c", "SELECT count(*) FROM raw_media", capture=True).stdout.strip()
    return {"seconds": seconds, "records": int(counted)}


def reset(db) -> None:
    _common.psql(
        db.url,
        "-c",
        f"TRUNCATE {HASHSET_TABLES} RESTART IDENTITY CASCADE; "
        "DROP TABLE IF EXISTS raw_classification, raw_media; CHECKPOINT;",
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records per file (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tmpdir", default=None, help="where the generated files go (about 250 bytes/record)")
    parser.add_argument("--worker-import", help=argparse.SUPPRESS)
    parser.add_argument("--worker-format", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_import:
        return import_worker(args.worker_import, args.worker_format)

    scratch = Path(tempfile.mkdtemp(prefix="bench-hashsets-import-", dir=args.tmpdir))
    try:
        with _common.BenchDatabase(NAME) as db:
            started = time.perf_counter()
            vics, csv = write_files(scratch, args.records)
            print(
                f"generated {args.records:,} records in {time.perf_counter() - started:.1f}s: "
                f"VICS 2.0 {vics.stat().st_size / 1e6:.0f} MB, CSV {csv.stat().st_size / 1e6:.0f} MB"
            )
            db.setup_django()
            from hashsets.formats import IJSON_BACKEND

            print(f"ijson backend: {IJSON_BACKEND}")
            modes = {
                "import vics2": lambda: run_import(db, vics, "vics2"),
                "import csv": lambda: run_import(db, csv, "csv"),
                "raw media": lambda: run_raw(db, csv, False, scratch),
                "raw media+class": lambda: run_raw(db, csv, True, scratch),
            }
            runs: dict[str, list[dict]] = {name: [] for name in modes}
            for run in range(args.runs):
                names = list(modes)
                names = names[run % len(names) :] + names[: run % len(names)]
                line = []
                for name in names:
                    reset(db)
                    result = modes[name]()
                    if name.startswith("import"):
                        if result["status"] != "done":
                            raise SystemExit(f"{name} failed: {result['error']}")
                        assert result["media_created"] == args.records, result
                        assert result["classifications_created"] == args.records, result
                    else:
                        assert result["records"] == args.records, result
                    runs[name].append(result)
                    line.append(f"{name} {result['seconds']:.1f}s")
                print(f"run {run + 1}: " + "; ".join(line))
            reset(db)

            seconds = {name: _common.median(r["seconds"] for r in rs) for name, rs in runs.items()}
            rss = {
                name: max(r["rss"]["vm_hwm_mib"] for r in rs) for name, rs in runs.items() if name.startswith("import")
            }
            maxrss = {
                name: max(r["rss"]["ru_maxrss_mib"] for r in rs)
                for name, rs in runs.items()
                if name.startswith("import")
            }
            rss_before = {
                name: max(r["rss_before"]["vm_hwm_mib"] for r in rs)
                for name, rs in runs.items()
                if name.startswith("import")
            }
            rows = []
            for name in modes:
                rows.append(
                    [
                        name,
                        seconds[name],
                        min(r["seconds"] for r in runs[name]),
                        args.records / seconds[name],
                        seconds[name] / seconds["raw media"],
                        seconds[name] / seconds["raw media+class"],
                        rss.get(name, float("nan")),
                    ]
                )
            _common.print_table(
                f"import of {args.records:,} records into empty tables, {args.runs} runs (medians)",
                ["mode", "median s", "best s", "records/s", "/ raw media", "/ raw media+class", "peak RSS MiB"],
                rows,
            )
            for name in rss:
                print(
                    f"{name}: peak RSS {rss[name]:.0f} MiB VmHWM ({rss_before[name]:.0f} MiB before the import; "
                    f"ru_maxrss {maxrss[name]:.0f} MiB)"
                )
            ratios = {
                fmt: {
                    "vs_raw_media": seconds[f"import {fmt}"] / seconds["raw media"],
                    "vs_raw_media_class": seconds[f"import {fmt}"] / seconds["raw media+class"],
                }
                for fmt in ("vics2", "csv")
            }
            slow_run = max(runs["import csv"], key=lambda r: r["seconds"])
            print("slowest statements of the slowest CSV import (seconds, from the DEBUG query log):")
            for seconds_taken, sql in slow_run["slowest_statements"]:
                print(f"  {seconds_taken:7.3f}  {sql}")
            for fmt, ratio in ratios.items():
                print(
                    f"ratio import {fmt} / raw media: {ratio['vs_raw_media']:.2f}x "
                    f"({_common.verdict(ratio['vs_raw_media'] <= 2)} target <= 2x); "
                    f"/ raw media+class: {ratio['vs_raw_media_class']:.2f}x"
                )
            _common.record(
                NAME,
                {k: v for k, v in vars(args).items() if not k.startswith("worker")},
                {
                    "median_seconds": seconds,
                    "ratios": ratios,
                    "peak_rss_mib": rss,
                    "ru_maxrss_mib": maxrss,
                    "rss_before_mib": rss_before,
                    "runs": runs,
                    "file_mb": {"vics2": vics.stat().st_size / 1e6, "csv": csv.stat().st_size / 1e6},
                },
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
