"""The auditors' report matches the audit entries it summarises; CSV is formula-safe; the printable
page has a print stylesheet and no inline style."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agencies.models import Role
from audit.integrator import audit_integrate
from retention import reports, services
from retention.reports import CATEGORY, csv_cell
from tests.conftest import login_verified, make_member
from tests.retention.conftest import days, entries

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(api_client, alice, bob, sam, audrey, case_a, closed_rule, agency_a):
    """Consultations with several purposes, a review, an erasure and a hold, all within today."""
    login_verified(api_client, alice)
    api_client.get(f"/api/v1/cases/{case_a.pk}")
    api_client.get(f"/api/v1/cases/{case_a.pk}/notes")
    api_client.get("/api/v1/cases/?q=lantern&purpose=victim_identification")
    api_client.get(f"/cases/{case_a.pk}/evidence/export.csv")
    login_verified(api_client, bob)
    api_client.get(f"/api/v1/cases/?purpose_case={case_a.reference}")
    oddball = make_member(agency_a, Role.INVESTIGATOR, "=HYPERLINK(evil)")
    login_verified(api_client, oddball)
    api_client.get("/api/v1/cases/?purpose=deconfliction")
    services.review_release(acting_user=alice, kind="case", object_id=case_a.pk)
    services.legal_hold_place(acting_user=sam, case_id=case_a.pk, reason="Court order")
    services.legal_hold_lift(acting_user=sam, case_id=case_a.pk, reason="Ended")
    # the case was closed "at T0" (2026-01-01): its deadline has long passed by the real clock
    services.record_erase(acting_user=sam, kind="case", object_id=case_a.pk)
    audit_integrate()
    return case_a


def _today_period():
    today = timezone.now().date()
    start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def test_report_matches_the_entries_it_summarises(activity, agency_a, agency_b, charlie):
    all_entries = entries()  # every entry, integrated
    start, end = _today_period()
    report = reports.report_build(agency=agency_a, time_from=start, time_to=end)
    counted = [e for e in all_entries if e["agency"] == "NSP" and e["action"] in CATEGORY]
    assert report.entries == len(counted) > 0
    by_purpose = Counter(e["purpose"].get("code", "(none)") or "(none)" for e in counted)
    assert {key: c + d + p for key, c, d, p in report.by_purpose} == dict(by_purpose)
    by_user = Counter(
        e["actor"]["name"] if e["actor"]["type"] == "user" else f"{e['actor']['type']}:{e['actor']['name']}"
        for e in counted
    )
    assert {key: c + d + p for key, c, d, p in report.by_user} == dict(by_user)
    assert sum(row.count for row in report.rows) == len(counted)
    assert report.without_purpose == sum(1 for e in counted if not e["purpose"].get("code"))
    assert by_purpose["victim_identification"] == 1 and by_purpose["deconfliction"] == 1
    lantern = [r for r in report.rows if r.purpose_case == activity.reference and r.actor == "alice"]
    assert {r.action for r in lantern} >= {"case.view", "case.export"}
    reviews = [e for e in all_entries if e["action"] == "retention.review"]
    assert report.reviews == [("case", "released", "alice", len(reviews))]
    assert report.erasures == [("case", "manual", 1)] and report.holds_placed == report.holds_lifted == 1
    # another agency's report sees none of it
    other = reports.report_build(agency=agency_b, time_from=start, time_to=end)
    assert other.entries == 0 and other.rows == []
    # a period before the activity is empty
    assert reports.report_build(agency=agency_a, time_from=start - timedelta(days=2), time_to=start).entries == 0


def test_report_lists_what_is_overdue(alice, case_a, closed_rule, agency_a):
    start, end = _today_period()
    report = reports.report_build(agency=agency_a, time_from=start, time_to=end, now=days(95))
    assert report.overdue["review"] == {"case": 1} and report.overdue["erasure"] == {"case": 1}
    assert reports.report_build(agency=agency_a, time_from=start, time_to=end, now=days(31)).overdue["erasure"] == {}


def test_csv_export_is_safe_against_formula_injection(client, activity, audrey):
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(dangerous) == "'" + dangerous
    assert csv_cell("alice") == "alice" and csv_cell(3) == 3
    login_verified(client, audrey)
    today = timezone.now().date().isoformat()
    response = client.get(f"/retention/report/?date_from={today}&date_to={today}&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    text = response.content.decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=HYPERLINK(evil)" in cells and "=HYPERLINK(evil)" not in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "Court order" not in text and "Lantern" not in text  # commitments only, never content
    report = entries("retention.report")[-1]
    assert report["purpose"] == {"code": "audit"} and report["details"]["format"] == "csv"


def test_printable_page_has_a_print_stylesheet_and_no_inline_style(client, activity, audrey):
    from django.contrib.staticfiles import finders

    login_verified(client, audrey)
    today = timezone.now().date().isoformat()
    response = client.get(f"/retention/report/?date_from={today}&date_to={today}&format=print")
    html = response.content.decode()
    assert response.status_code == 200 and "report-print" in html and "<nav" not in html
    assert " style=" not in html and "<style" not in html and "<script" not in html
    assert "style-src 'self'" in response["Content-Security-Policy"]
    css = open(finders.find("retention/report-print.css"), encoding="utf-8").read()
    assert "@media print" in css and "@page" in css
    screen = client.get(f"/retention/report/?date_from={today}&date_to={today}").content.decode()
    assert "format=print" in screen and "format=csv" in screen and " style=" not in screen
    assert "alice" in screen and "released" in screen


def test_only_auditors_get_the_report(client, api_client, alice, charlie, audrey):
    for user in (alice, charlie):
        login_verified(client, user)
        assert client.get("/retention/report/").status_code == 403
        login_verified(api_client, user)
        assert api_client.get("/api/v1/retention/report?date_from=2026-01-01&date_to=2026-01-31").status_code == 403
    login_verified(api_client, audrey)
    body = api_client.get("/api/v1/retention/report?date_from=2026-01-31&date_to=2026-01-01")
    assert body.status_code == 400
    body = api_client.get("/api/v1/retention/report?date_from=2026-01-01&date_to=2026-01-31").json()
    assert body["agency"] == "NSP" and "by_purpose" in body and "overdue" in body
