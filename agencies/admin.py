from __future__ import annotations

from django import forms
from django.contrib import admin

from agencies.models import Agency, ApiToken, LoginThrottle, Membership, NodeAuditor
from audit.actions import Action
from audit.capture import actor_for_user, audit_record


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "country", "hosted_here", "node_url"]
    search_fields = ["name", "code"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "agency", "role"]
    list_filter = ["agency", "role"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "expires_at", "revoked_at"]
    exclude = ["key_hash"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at"]


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ["username", "address", "failures", "locked_until"]
    search_fields = ["username", "address"]


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
class NodeAuditorAdmin(admin.ModelAdmin):
    """The operator may also appoint a node auditor here (or with `manage.py node_auditor_create`)."""

    form = NodeAuditorForm
    list_display = ["user", "created_at"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action=Action.USER_ROLE_CHANGE,
            actor=actor_for_user(request.user, auth="operator"),
            agency="",
            object_type="user",
            object_id=obj.user_id,
            details={"to": "node_auditor"},
        )
