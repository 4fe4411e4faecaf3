from __future__ import annotations

from django.urls import path

from exchange import views

urlpatterns = [
    path("", views.overview_view, name="exchange"),
    path("card/", views.card_view, name="exchange-card"),
    path("keys/rotate/", views.keys_rotate_view, name="exchange-keys-rotate"),
    path("keys/<int:key_set_id>/revoke/", views.keys_revoke_view, name="exchange-keys-revoke"),
    path("partners/add/", views.partner_add_view, name="exchange-partner-add"),
    path("partners/<int:partner_id>/", views.partner_view, name="exchange-partner"),
    path("approvals/", views.approvals_view, name="exchange-approvals"),
    path("bundles/<str:direction>/", views.bundles_view, name="exchange-bundles"),
    path("bundles/item/<int:bundle_pk>/retry/", views.bundle_retry_view, name="exchange-bundle-retry"),
]
