from __future__ import annotations

from django.urls import path

from exchange import api

urlpatterns = [
    path("inbox", api.InboxView.as_view(), name="api-exchange-inbox"),
    path("feed", api.FeedView.as_view(), name="api-exchange-feed"),
    path("bundles/<uuid:bundle_id>", api.BundleDownloadView.as_view(), name="api-exchange-bundle"),
    path("agencies/<str:code>/card", api.AgencyCardView.as_view(), name="api-exchange-card"),
    path("witness", api.WitnessView.as_view(), name="api-exchange-witness"),
]
