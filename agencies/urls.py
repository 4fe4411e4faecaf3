from __future__ import annotations

from django.urls import path

from agencies import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.login_verify_view, name="login-verify"),
    path("login/enrol/", views.login_enrol_view, name="login-enrol"),
    path("login/recover/", views.login_recover_view, name="login-recover"),
    path("enrol/<str:token>/", views.enrol_view, name="enrol"),
    path("account/", views.account_view, name="account"),
    path("logout/", views.logout_view, name="logout"),
    path("agency/users/", views.users_view, name="users"),
    path("agency/users/new/", views.user_create_view, name="user-create"),
    path("agency/users/<int:user_id>/", views.user_detail_view, name="user-detail"),
    path("account/tokens/", views.tokens_view, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token-revoke"),
]
