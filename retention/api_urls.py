"""API paths: /api/v1/retention/..."""

from __future__ import annotations

from django.urls import path

from retention import api

urlpatterns = [
    path("rules", api.RetentionRulesView.as_view(), name="api-retention-rules"),
    path("rules/<int:rule_id>", api.RetentionRuleView.as_view(), name="api-retention-rule"),
    path("queue", api.RetentionQueueView.as_view(), name="api-retention-queue"),
    path("reviews", api.RetentionReviewView.as_view(), name="api-retention-reviews"),
    path("erasures", api.RetentionErasureView.as_view(), name="api-retention-erasures"),
    path("tombstones", api.RetentionTombstonesView.as_view(), name="api-retention-tombstones"),
    path("legal-holds", api.RetentionLegalHoldsView.as_view(), name="api-retention-legal-holds"),
    path("cases/<int:case_id>/legal-hold", api.RetentionLegalHoldPlaceView.as_view(), name="api-retention-hold"),
    path(
        "cases/<int:case_id>/legal-hold/lift",
        api.RetentionLegalHoldLiftView.as_view(),
        name="api-retention-hold-lift",
    ),
    path("report", api.RetentionReportView.as_view(), name="api-retention-report"),
]
