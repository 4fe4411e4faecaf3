from __future__ import annotations

from django import forms

from agencies.models import Role


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True})
    )
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class OneTimeCodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label="One-time code",
        help_text="The 6-digit code your authenticator app shows now.",
        error_messages={"invalid": "Enter the 6 digits your authenticator app shows."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    full_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the token is used, e.g. 'Griffeye sync'.")
    days = forms.IntegerField(min_value=1, max_value=365, initial=90, label="Valid for (days)")


class _NewPasswordMixin(forms.Form):
    new_password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters; a passphrase of several words is easiest to remember.",
    )
    new_password_again = forms.CharField(
        label="New password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("new_password") != data.get("new_password_again"):
            self.add_error("new_password_again", "The two passwords differ.")
        return data


class EnrolmentForm(_NewPasswordMixin):
    code = OneTimeCodeForm.base_fields["code"]


class PasswordChangeForm(_NewPasswordMixin):
    current_password = forms.CharField(
        label="Current password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    field_order = ["current_password", "new_password", "new_password_again"]


class CurrentPasswordForm(forms.Form):
    current_password = forms.CharField(
        label="Current password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class RecoveryCodeForm(forms.Form):
    code = forms.CharField(
        label="Recovery code",
        max_length=40,
        help_text="One of the recovery codes you saved when you set up your account, e.g. abcd-efgh-ijkl-mnop.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
