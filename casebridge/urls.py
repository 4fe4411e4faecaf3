from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agencies.api import MeView
from casebridge import views
from casebridge.operator_site import OperatorAdminSite

# The Django admin is the node operator's console: superusers with a one-time code, the main
# login's throttle and audit, every page audited (casebridge.operator_site). The default site keeps
# what the apps registered in their admin.py; only its behaviour changes.
admin.site.__class__ = OperatorAdminSite
admin.site.site_header = OperatorAdminSite.site_header
admin.site.site_title = OperatorAdminSite.site_title

api_v1 = [
    path("me", MeView.as_view(), name="api-me"),
    path("audit/", include("audit.api_urls")),
    path("", include("hashsets.api_urls")),
    path("", include("cases.api_urls")),
    path("exchange/", include("exchange.api_urls")),
    path("retention/", include("retention.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("healthz", views.healthz_view, name="healthz"),
    path("readyz", views.readyz_view, name="readyz"),
    path("", include("agencies.urls")),
    path("audit/", include("audit.urls")),
    path("hashsets/", include("hashsets.urls")),
    path("cases/", include("cases.urls")),
    path("exchange/", include("exchange.urls")),
    path("retention/", include("retention.urls")),
    path("api/v1/", include(api_v1)),
    path("operator/", admin.site.urls),
]

handler404 = "casebridge.errorpages.not_found"
handler500 = "casebridge.errorpages.server_error"
handler403 = "casebridge.errorpages.forbidden"
