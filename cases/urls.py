from __future__ import annotations

from django.urls import path

from cases import views

urlpatterns = [
    path("", views.case_list_view, name="cases"),
    path("new/", views.case_create_view, name="case-create"),
    path("templates/", views.template_list_view, name="case-templates"),
    path("leads/", views.lead_list_view, name="leads"),
    path("leads/<int:lead_id>/", views.lead_detail_view, name="lead-detail"),
    path("leads/<int:lead_id>/clues/", views.lead_clue_view, name="lead-clue"),
    path("leads/<int:lead_id>/status/", views.lead_status_view, name="lead-status"),
    path("leads/<int:lead_id>/share/", views.lead_share_view, name="lead-share"),
    path("leads/<int:lead_id>/attach/", views.lead_attach_view, name="lead-attach"),
    path("shares/", views.share_queue_view, name="share-queue"),
    path("shares/<int:request_id>/", views.share_decide_view, name="share-decide"),
    path("deconfliction/usage/", views.deconfliction_usage_view, name="deconfliction-usage"),
    path("<int:case_id>/", views.case_detail_view, name="case-detail"),
    path("<int:case_id>/edit/", views.case_edit_view, name="case-edit"),
    path("<int:case_id>/status/", views.case_status_view, name="case-status"),
    path("<int:case_id>/members/", views.case_member_view, name="case-members"),
    path("<int:case_id>/notes/", views.note_create_view, name="case-note-create"),
    path("<int:case_id>/notes/<int:note_id>/", views.note_edit_view, name="case-note"),
    path("<int:case_id>/tasks/", views.task_create_view, name="case-task-create"),
    path("<int:case_id>/tasks/<int:task_id>/", views.task_detail_view, name="case-task"),
    path("<int:case_id>/attachments/", views.attachment_create_view, name="case-attachment-create"),
    path("<int:case_id>/attachments/<int:attachment_id>/", views.attachment_download_view, name="case-attachment"),
    path("<int:case_id>/identifiers/", views.identifier_create_view, name="case-identifier-create"),
    path("<int:case_id>/series/", views.series_link_view, name="case-series-link"),
    path("<int:case_id>/evidence/", views.triage_view, name="case-triage"),
    path("<int:case_id>/evidence/add/", views.evidence_add_view, name="case-evidence-add"),
    path("<int:case_id>/evidence/rematch/", views.rematch_view, name="case-rematch"),
    path(
        "<int:case_id>/evidence/classified/<int:batch_id>/undo/",
        views.classification_undo_view,
        name="case-classify-undo",
    ),
    path("<int:case_id>/evidence/export.csv", views.evidence_export_view, name="case-evidence-export"),
    path("<int:case_id>/leads/new/", views.lead_create_view, name="case-lead-create"),
]
