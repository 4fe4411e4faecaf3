from __future__ import annotations

from django.urls import path

from retention import views

urlpatterns = [
    path("", views.queue_view, name="retention-queue"),
    path("review/", views.review_view, name="retention-review"),
    path("erase/", views.erase_view, name="retention-erase"),
    path("rules/", views.rules_view, name="retention-rules"),
    path("rules/<int:rule_id>/delete/", views.rule_delete_view, name="retention-rule-delete"),
    path("holds/", views.holds_view, name="retention-holds"),
    path("cases/<int:case_id>/hold/", views.hold_place_view, name="retention-hold-place"),
    path("cases/<int:case_id>/hold/lift/", views.hold_lift_view, name="retention-hold-lift"),
    path("tombstones/", views.tombstones_view, name="retention-tombstones"),
    path("report/", views.report_view, name="retention-report"),
]
