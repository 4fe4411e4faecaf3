"""The node operator's view of agencies and users (/operator/, casebridge.operator_site).

The operator hosts agencies but must not be able to act as their users or change what they trust
(docs/threat-model.md): memberships and roles, API tokens, login throttles and users are view-only
here, one-time-code devices and groups are not shown at all, and what an operator does (create an
agency, suspend an account, appoint a node auditor) is audited, through the services where they exist.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies import services
from agencies.models import Agency, ApiToken, LoginThrottle, Membership, NodeAuditor
from audit.actions import Action
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError

User = get_user_model()

# Registered by django.contrib.auth and django-otp: through them the operator could set a user's
# password or superuser flag, or add (and read the secret of) a one-time-code device, and log in as
# any agency's user. Accounts are managed by agency admins in the web UI; operators by
# `manage.py createsuperuser`.
for _model in (User, Group, TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class ViewOnlyAdmin(admin.ModelAdmin):
    """Listed and shown, never added, changed or deleted from the node console."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Agency)
class AgencyAdmin(ViewOnlyAdmin):
    """Agencies are created here (agencies.services.agency_create), never changed: an agency's
    node URL and code are what its partners' deliveries and trust hang on."""

    list_display = ["name", "code", "country", "hosted_here", "node_url"]
    search_fields = ["name", "code"]
    fields = ["name", "code", "country", "node_url", "hosted_here"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return True

    def save_model(self, request: HttpRequest, obj: Agency, form, change: bool) -> None:
        if change or obj.pk is not None:
            raise PermissionDenied("Agencies are not changed from the node console.")
        created = services.agency_create(
            acting_user=request.user,
            name=obj.name,
            code=obj.code,
            country=obj.country,
            node_url=obj.node_url,
            hosted_here=obj.hosted_here,
        )
        obj.pk, obj.created_at = created.pk, created.created_at


@admin.register(Membership)
class MembershipAdmin(ViewOnlyAdmin):
    list_display = ["user", "agency", "role"]
    list_filter = ["agency", "role"]


@admin.register(ApiToken)
class ApiTokenAdmin(ViewOnlyAdmin):
    list_display = ["name", "user", "prefix", "expires_at", "revoked_at"]
    exclude = ["key_hash"]


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ViewOnlyAdmin):
    list_display = ["username", "address", "failures", "locked_until"]
    search_fields = ["username", "address"]


@admin.register(User)
class OperatorUserAdmin(ViewOnlyAdmin):
    """Accounts, view-only, with one operator action: suspend (agencies.services.user_deactivate_by_operator)."""

    list_display = ["username", "membership", "is_active", "is_superuser", "last_login"]
    list_filter = ["is_active", "is_superuser", "membership__agency"]
    search_fields = ["username", "email"]
    fields = ["username", "first_name", "last_name", "email", "is_active", "is_superuser", "last_login", "date_joined"]
    actions = ["deactivate_selected"]

    @admin.action(description="Deactivate the selected accounts (and revoke their API tokens)")
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for user in queryset.select_related("membership__agency"):
            try:
                services.user_deactivate_by_operator(acting_user=request.user, user=user)
            except CasebridgeError as exc:
                self.message_user(request, f"{user.get_username()}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} account(s) deactivated.", messages.SUCCESS)


class NodeAuditorForm(forms.ModelForm):
    class Meta:
        model = NodeAuditor
        fields = ["user"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if Membership.objects.filter(user=user).exists():
            # A member stays inside its agency's scope; node-level reading is a separate account.
            raise forms.ValidationError("This user belongs to an agency; a node auditor belongs to none.")
        return user


@admin.register(NodeAuditor)
class NodeAuditorAdmin(ViewOnlyAdmin):
    """The operator may also appoint a node auditor here (or with `manage.py node_auditor_create`):
    a reader of node-level entries only, so appointing one gives no agency's data away. Appointed,
    not changed or removed here: neither would be audited."""

    form = NodeAuditorForm
    list_display = ["user", "created_at"]
    readonly_fields = ["created_at"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return True

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied("Node auditors are not changed from the node console.")
        super().save_model(request, obj, form, change)
        audit_record(
            action=Action.USER_ROLE_CHANGE,
            actor=actor_for_user(request.user, auth="operator"),
            agency="",
            object_type="user",
            object_id=obj.user_id,
            details={"to": "node_auditor"},
        )
