from __future__ import annotations

from django.urls import path

from audit import api

urlpatterns = [
    path("checkpoint", api.CheckpointView.as_view(), name="api-audit-checkpoint"),
    path("proof/inclusion", api.InclusionProofView.as_view(), name="api-audit-inclusion"),
    path("proof/consistency", api.ConsistencyProofView.as_view(), name="api-audit-consistency"),
    path("entries/<int:index>", api.EntryView.as_view(), name="api-audit-entry"),
]
