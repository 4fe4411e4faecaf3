from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agencies.api import MeView
from casebridge import views

# The Django admin is for the node operator only (superusers), and also needs a one-time code.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Casebridge node administration"

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
