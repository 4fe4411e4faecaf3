"""API paths: /api/v1/cases/... and /api/v1/leads/..."""

from __future__ import annotations

from django.urls import path

from cases import api

urlpatterns = [
    path("cases/", api.CaseListView.as_view(), name="api-cases"),
    path("cases/<int:case_id>", api.CaseDetailView.as_view(), name="api-case"),
    path("cases/<int:case_id>/status", api.CaseStatusView.as_view(), name="api-case-status"),
    path("cases/<int:case_id>/members", api.CaseMembersView.as_view(), name="api-case-members"),
    path("cases/<int:case_id>/notes", api.CaseNotesView.as_view(), name="api-case-notes"),
    path("cases/<int:case_id>/notes/<int:note_id>", api.CaseNoteView.as_view(), name="api-case-note"),
    path("cases/<int:case_id>/tasks", api.CaseTasksView.as_view(), name="api-case-tasks"),
    path("cases/<int:case_id>/tasks/<int:task_id>", api.CaseTaskView.as_view(), name="api-case-task"),
    path("cases/<int:case_id>/evidence", api.CaseEvidenceView.as_view(), name="api-case-evidence"),
    path("cases/<int:case_id>/evidence/classify", api.CaseEvidenceClassifyView.as_view(), name="api-case-classify"),
    path("cases/<int:case_id>/deconfliction", api.CaseDeconflictionView.as_view(), name="api-case-deconfliction"),
    path("cases/<int:case_id>/identifiers", api.CaseIdentifiersView.as_view(), name="api-case-identifiers"),
    path("cases/<int:case_id>/leads", api.CaseLeadsView.as_view(), name="api-case-leads"),
    path("leads/", api.LeadListView.as_view(), name="api-leads"),
    path("leads/<int:lead_id>", api.LeadDetailView.as_view(), name="api-lead"),
    path("leads/<int:lead_id>/clues", api.LeadCluesView.as_view(), name="api-lead-clues"),
    path("leads/<int:lead_id>/share", api.LeadShareView.as_view(), name="api-lead-share"),
]
