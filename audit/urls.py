from __future__ import annotations

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_log_view, name="audit-log"),
    path("entries/<int:index>/", views.audit_entry_view, name="audit-entry"),
    path("checkpoint/", views.audit_checkpoint_view, name="audit-checkpoint"),
    path("export/", views.audit_export_view, name="audit-export"),
    path("verify/", views.audit_verify_view, name="audit-verify"),
]
