from __future__ import annotations

import pytest

from casebridge.errors import CasebridgeError, ForbiddenError
from cases import services
from cases.access import Access
from cases.models import Case, CaseStatusChange, NoteRevision, TaskLogEntry
from tests.cases.conftest import ctx, entries

pytestmark = pytest.mark.django_db


def test_case_reference_is_generated_per_agency_and_year(alice, charlie, case_a, case_b):
    second = services.case_create(acting_user=alice, title="Second")
    year = case_a.created_at.year
    assert case_a.reference == f"NSP-{year}-0001"
    assert second.reference == f"NSP-{year}-0002"
    assert case_b.reference == f"RNP-{year}-0001"
    created = entries("case.create")
    assert len(created) == 3
    assert "Operation Lantern" not in str(created)  # the title is a commitment only
    assert created[0]["purpose"] == {"code": "case", "case": case_a.reference}


def test_status_transitions_follow_the_workflow_and_are_recorded(alice, bob, case_a):
    manage = ctx(alice, case_a, Access.MANAGE)
    services.case_status_change(acting_user=alice, context=manage, status="active")
    with pytest.raises(
        CasebridgeError, match="cannot go from active to open; from active it can go to: suspended, closed"
    ):
        services.case_status_change(acting_user=alice, context=manage, status="open")
    with pytest.raises(CasebridgeError, match="Unknown status 'archived'"):
        services.case_status_change(acting_user=alice, context=manage, status="archived")
    services.case_status_change(acting_user=alice, context=manage, status="suspended", reason="waiting for provider")
    services.case_status_change(acting_user=alice, context=manage, status="closed")
    history = list(
        CaseStatusChange.objects.filter(case=case_a).values_list("from_status", "to_status", "changed_by__username")
    )
    assert history == [
        ("", "open", "alice"),
        ("open", "active", "alice"),
        ("active", "suspended", "alice"),
        ("suspended", "closed", "alice"),
    ]
    assert Case.objects.get(pk=case_a.pk).status == "closed"
    with pytest.raises(ForbiddenError):
        services.case_status_change(acting_user=bob, context=ctx(bob, case_a), status="active")


def test_note_edits_keep_every_revision(alice, case_a):
    write = ctx(alice, case_a, Access.WRITE)
    note = services.note_create(acting_user=alice, context=write, body="first words")
    services.note_update(acting_user=alice, context=write, note=note, body="second words")
    assert list(NoteRevision.objects.filter(note=note).order_by("number").values_list("body", flat=True)) == [
        "first words",
        "second words",
    ]
    with pytest.raises(CasebridgeError, match="needs some text"):
        services.note_update(acting_user=alice, context=write, note=note, body="  ")
    logged = entries("note.update")
    assert logged and "second words" not in str(logged) and "body" in logged[0]["commitments"]


def test_task_assignee_must_be_member(alice, sam, case_a):
    write = ctx(alice, case_a, Access.WRITE)
    with pytest.raises(CasebridgeError, match="'sam' is not a member of this case"):
        services.task_create(acting_user=alice, context=write, title="Check provider", assignee="sam")
    task = services.task_create(acting_user=alice, context=write, title="Check provider", assignee="bob")
    services.task_update(acting_user=alice, context=write, task=task, state="in_progress", comment="started")
    with pytest.raises(CasebridgeError, match="Unknown task state"):
        services.task_update(acting_user=alice, context=write, task=task, state="finished")
    log = list(TaskLogEntry.objects.filter(task=task).order_by("id").values_list("change", flat=True))
    assert log == [{"state": [None, "open"]}, {"state": ["open", "in_progress"]}]
