from __future__ import annotations

from django.urls import path

from hashsets import views

urlpatterns = [
    path("", views.hashset_list_view, name="hashsets"),
    path("new/", views.hashset_create_view, name="hashset-create"),
    path("<int:hashset_id>/", views.hashset_detail_view, name="hashset-detail"),
    path("<int:hashset_id>/import/", views.hashset_import_view, name="hashset-import-upload"),
    path("<int:hashset_id>/export/", views.hashset_export_view, name="hashset-export"),
    path("<int:hashset_id>/publish/", views.hashset_publish_view, name="hashset-publish"),
    path("imports/<int:import_id>/", views.hashset_import_status_view, name="hashset-import"),
]
