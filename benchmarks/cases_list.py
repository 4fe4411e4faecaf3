"""Benchmark the case list, case search and evidence triage against raw SQL baselines in one run.

    createdb -h 127.0.0.1 -U postgres casebridge_bench_cases
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/casebridge_bench_cases .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/casebridge_bench_cases .venv/bin/python benchmarks/cases_list.py

Loads (once; reused on later runs) 100,000 cases of one agency with set-based SQL, every tenth one
with the investigator as a member, and a hash set of 100,000 known media. Then, ``--runs`` times:

* case list: ``cases.selectors.case_list`` first page (25) with filters (status=active, TLP:AMBER) and
  its count, for a supervisor (all cases) and an investigator (member cases only), against the
  same SELECT and COUNT written by hand;
* case search: the same selector with a text filter (trigram indexes), against hand-written ILIKE;
* evidence triage of a 10,000-item ``hash_files`` manifest: parse + insert + exact match
  (``evidence_parse_file`` + ``evidence_add``, in a rolled-back transaction), against a raw
  baseline doing the same insert (``unnest``) and match (one UPDATE ... FROM join) in SQL.

Prints p50/p99 per operation and the ratio ORM/raw.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casebridge.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("AUDIT_INTEGRATE_ON_COMMIT", "0")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from agencies.models import Agency, Membership, Role  # noqa: E402
from cases import selectors, services  # noqa: E402
from cases.access import Access  # noqa: E402

CASES = 100_000
MEDIA = 100_000
PAGE = 25


class _Rollback(Exception):
    pass


def _user(agency, username, role):
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(username=username, password=None)
        Membership.objects.create(user=user, agency=agency, role=role)
    return user_model.objects.select_related("membership__agency").get(pk=user.pk)


def load() -> tuple:
    agency = Agency.objects.filter(code="BENCH").first() or Agency.objects.create(
        name="Bench", code="BENCH", country="GB"
    )
    investigator = _user(agency, "bench.investigator", Role.INVESTIGATOR)
    supervisor = _user(agency, "bench.supervisor", Role.SUPERVISOR)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cases_case WHERE agency_id = %s", [agency.pk])
        have = cursor.fetchone()[0]
        if have < CASES:
            started = time.perf_counter()
            cursor.execute(
                """
                INSERT INTO cases_case (agency_id, reference, title, description, status, priority, tlp, lead_id,
                                        created_by_id, created_at, updated_at)
                SELECT %(agency)s, 'BENCH-2026-' || lpad(g::text, 6, '0'),
                       (ARRAY['Operation','Project','Case'])[1 + g %% 3] || ' ' ||
                       (ARRAY['Orchid','Heron','Lantern','Kestrel','Wren','Maple','Falcon'])[1 + g %% 7] || ' ' || g,
                       'bench', (ARRAY['open','active','suspended','closed'])[1 + g %% 4], 1 + g %% 4,
                       (ARRAY['RED','AMBER+STRICT','AMBER','GREEN','CLEAR'])[1 + g %% 5], %(lead)s, %(lead)s,
                       now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
                FROM generate_series(%(start)s, %(end)s) g
                """,
                {"agency": agency.pk, "lead": investigator.pk, "start": have + 1, "end": CASES},
            )
            cursor.execute(
                """
                INSERT INTO cases_casemember (case_id, user_id, role, added_at)
                SELECT id, %s, 'member', now() FROM cases_case
                WHERE agency_id = %s AND id %% 10 = 0
                ON CONFLICT DO NOTHING
                """,
                [investigator.pk, agency.pk],
            )
            cursor.execute("ANALYZE cases_case; ANALYZE cases_casemember")
            print(f"loaded {CASES - have:,} cases in {time.perf_counter() - started:.1f} s")
    hashset = _media_set(agency)
    return agency, investigator, supervisor, hashset


def _md5(n: int) -> bytes:
    return hashlib.md5(f"bench-{n}".encode()).digest()


def _media_set(agency):
    from hashsets.models import HashSet

    hashset, _ = HashSet.objects.get_or_create(owner=agency, name="bench known")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM hashsets_classification WHERE hashset_id = %s", [hashset.pk])
        if cursor.fetchone()[0] >= MEDIA:
            return hashset
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO hashsets_media (md5, pdq_hasher, media_type, created_at)
            SELECT decode(md5('bench-' || g), 'hex'), '', 'image', now() FROM generate_series(1, %s) g
            ON CONFLICT DO NOTHING
            """,
            [MEDIA],
        )
        cursor.execute(
            """
            INSERT INTO hashsets_classification (media_id, hashset_id, agency_id, scheme, category_code, category,
                                                 tags, comments, created_at, updated_at)
            SELECT m.id, %s, %s, 'vic_us', '1', 'csam_ungraded', '[]', '', now(), now()
            FROM hashsets_media m
            WHERE m.md5 IN (SELECT decode(md5('bench-' || g), 'hex') FROM generate_series(1, %s) g)
            ON CONFLICT DO NOTHING
            """,
            [hashset.pk, agency.pk, MEDIA],
        )
        cursor.execute("ANALYZE hashsets_media; ANALYZE hashsets_classification")
        print(f"loaded {MEDIA:,} known media in {time.perf_counter() - started:.1f} s")
    return hashset


RAW_LIST = """
SELECT c.id, c.reference, c.title, c.status, c.priority, c.tlp, c.updated_at, u.username,
       (SELECT m.role FROM cases_casemember m WHERE m.case_id = c.id AND m.user_id = %(user)s LIMIT 1)
FROM cases_case c JOIN auth_user u ON u.id = c.lead_id
WHERE c.agency_id = %(agency)s AND c.status = %(status)s AND c.tlp = %(tlp)s {member} {text}
ORDER BY c.updated_at DESC, c.id DESC LIMIT 25
"""
RAW_COUNT = "SELECT count(*) FROM cases_case c WHERE c.agency_id = %(agency)s AND c.status = %(status)s AND c.tlp = %(tlp)s {member} {text}"  # noqa: E501
MEMBER = "AND EXISTS (SELECT 1 FROM cases_casemember m WHERE m.case_id = c.id AND m.user_id = %(user)s)"
TEXT = "AND (UPPER(c.reference::text) LIKE %(like)s OR UPPER(c.title::text) LIKE %(like)s)"


def orm_list(user, text: str = ""):
    filters = selectors.CaseFilters(status="active", tlp="AMBER", text=text)
    cases = selectors.case_list(user=user, filters=filters)
    rows = [(c.pk, c.reference, c.lead.username, c.my_role) for c in cases[:PAGE]]
    return cases.count(), rows


def raw_list(user, agency, member: bool, text: str = ""):
    params = {"user": user.pk, "agency": agency.pk, "status": "active", "tlp": "AMBER", "like": f"%{text.upper()}%"}
    parts = {"member": MEMBER if member else "", "text": TEXT if text else ""}
    with connection.cursor() as cursor:
        cursor.execute(RAW_COUNT.format(**parts), params)
        count = cursor.fetchone()[0]
        cursor.execute(RAW_LIST.format(**parts), params)
        rows = cursor.fetchall()
    return count, rows


def write_manifest(path: Path, n: int) -> None:
    lines = ["md5,sha1,sha256,size,media_type,pdq,pdq_quality,pdq_hasher,error"]
    for i in range(n):
        # half known (in the hash set), half new
        md5 = _md5(i * 2 + 1).hex() if i % 2 == 0 else hashlib.md5(f"new-{i}".encode()).hexdigest()
        sha256 = hashlib.sha256(f"file-{i}".encode()).hexdigest()
        lines.append(f"{md5},,{sha256},{1000 + i},image,,,,")
    path.write_text("\n".join(lines) + "\n")


def orm_triage(user, case_id: int, path: Path) -> int:
    context = selectors.case_context(user=user, case_id=case_id, need=Access.WRITE)
    try:
        with transaction.atomic():
            parsed = services.evidence_parse_file(path)
            result = services.evidence_add(acting_user=user, context=context, parsed=parsed)
            raise _Rollback(result.known)
    except _Rollback as done:
        return done.args[0]


def raw_triage(user, case_id: int, hashset_id: int, path: Path) -> int:
    import csv

    md5s, sha256s, sizes = [], [], []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            md5s.append(bytes.fromhex(row["md5"]))
            sha256s.append(bytes.fromhex(row["sha256"]))
            sizes.append(int(row["size"]))
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO cases_evidenceitem (case_id, digest_key, md5, sha256, size, media_type, source, added_by_id,
                                                added_at, match_state, category, disagree)
                SELECT %s, '\\x01'::bytea || s, m, s, z, 'image', 'manifest', %s, now(), 'unknown', '', false
                FROM unnest(%s::bytea[], %s::bytea[], %s::bigint[]) AS b(m, s, z)
                ON CONFLICT DO NOTHING
                """,
                [case_id, user.pk, md5s, sha256s, sizes],
            )
            cursor.execute(
                """
                UPDATE cases_evidenceitem e SET match_state = 'known', media_id = m.id, category = c.category
                FROM hashsets_media m JOIN hashsets_classification c ON c.media_id = m.id AND c.hashset_id = %s
                WHERE e.case_id = %s AND e.md5 = m.md5
                """,
                [hashset_id, case_id],
            )
            known = cursor.rowcount
            raise _Rollback(known)
    except _Rollback as done:
        return done.args[0]


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--triage-runs", type=int, default=7)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    agency, investigator, supervisor, hashset = load()
    case = selectors.cases_visible(user=investigator).order_by("-id").first()
    results = []
    for label, user, member in (
        ("case list (supervisor)", supervisor, False),
        ("case list (investigator)", investigator, True),
    ):
        assert orm_list(user)[0] == raw_list(user, agency, member)[0]
        orm = timed(lambda user=user: orm_list(user), args.runs)
        raw = timed(lambda user=user, member=member: raw_list(user, agency, member), args.runs)
        results.append((label, orm, raw))
    for label, user, member in (
        ("case search (supervisor)", supervisor, False),
        ("case search (investigator)", investigator, True),
    ):
        assert orm_list(user, "orchid")[0] == raw_list(user, agency, member, "orchid")[0]
        orm = timed(lambda user=user: orm_list(user, "orchid"), args.runs)
        raw = timed(lambda user=user, member=member: raw_list(user, agency, member, "orchid"), args.runs)
        results.append((label, orm, raw))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.csv"
        write_manifest(manifest, args.items)
        known_orm = orm_triage(investigator, case.pk, manifest)
        known_raw = raw_triage(investigator, case.pk, hashset.pk, manifest)
        assert known_orm == known_raw == args.items // 2, (known_orm, known_raw)
        orm = timed(lambda: orm_triage(investigator, case.pk, manifest), args.triage_runs)
        raw = timed(lambda: raw_triage(investigator, case.pk, hashset.pk, manifest), args.triage_runs)
        results.append((f"evidence triage ({args.items:,}-item manifest)", orm, raw))
    print(f"\n{CASES:,} cases, {MEDIA:,} known media; {args.runs} runs (triage {args.triage_runs})")
    print(f"{'operation':42} {'p50 ms':>9} {'p99 ms':>9} {'raw p50':>9} {'raw p99':>9} {'ratio p50':>10}")
    for label, orm, raw in results:
        print(
            f"{label:42} {statistics.median(orm):9.1f} {p(orm, 0.99):9.1f} {statistics.median(raw):9.1f} "
            f"{p(raw, 0.99):9.1f} {statistics.median(orm) / statistics.median(raw):10.2f}"
        )


if __name__ == "__main__":
    main()
