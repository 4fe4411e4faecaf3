from __future__ import annotations

from django import forms

from audit.actions import Outcome
from audit.selectors import FAMILIES, AuditFilters

ACTION_FAMILY_CHOICES = [("", "Any action")] + [(family, f"{family}.*") for family in FAMILIES]


class AuditFilterForm(forms.Form):
    time_from = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    time_to = forms.DateTimeField(
        required=False, label="To (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    agency = forms.CharField(required=False, max_length=16)
    actor = forms.CharField(required=False, max_length=150, label="Actor (username)")
    action = forms.CharField(required=False, max_length=40, help_text="e.g. case.view, or a family: case")
    object_type = forms.CharField(required=False, max_length=40, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *Outcome.choices])

    def filters(self) -> AuditFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilters(**{key: value for key, value in data.items() if value not in (None, "")})

    def active(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {key: str(value) for key, value in data.items() if value not in (None, "")}
