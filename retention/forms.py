from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from cases.models import CaseStatus, LeadStatus
from retention.models import RecordKind


def _status_choices() -> list[tuple[str, str]]:
    kinds: dict[str, list[str]] = {}
    for value in CaseStatus.values:
        kinds.setdefault(value, []).append("cases")
    for value in LeadStatus.values:
        kinds.setdefault(value, []).append("leads")
    return [("", "Any status without a rule of its own")] + [
        (value, f"{value.replace('_', ' ')} ({', '.join(which)})") for value, which in kinds.items()
    ]


STATUS_CHOICES = _status_choices()


class RuleForm(forms.Form):
    kind = forms.ChoiceField(choices=RecordKind.choices, label="Kind of record")
    status = forms.ChoiceField(
        choices=STATUS_CHOICES, required=False, help_text="Cases and leads only: a rule for one status."
    )
    review_after_days = forms.IntegerField(min_value=1, label="Review after (days)")
    erase_after_days = forms.IntegerField(min_value=1, label="Erase after (days)")


class ReviewForm(forms.Form):
    kind = forms.ChoiceField(choices=RecordKind.choices, widget=forms.HiddenInput)
    object_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=[("extend", "Extend"), ("release", "Let go")])
    review_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(required=False, max_length=2000)


class EraseForm(forms.Form):
    kind = forms.ChoiceField(choices=RecordKind.choices, widget=forms.HiddenInput)
    object_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class HoldForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The proceedings or order it is for. Shown on the case page; audited as a commitment.",
    )


class ReportForm(forms.Form):
    date_from = forms.DateField(label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To, inclusive (UTC)", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def initial_period(cls) -> dict:
        today = timezone.now().date()
        return {"date_from": today - timedelta(days=30), "date_to": today}

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The period ends before it starts.")
        if data.get("date_from") and data.get("date_to") and (data["date_to"] - data["date_from"]).days > 3660:
            raise forms.ValidationError("Choose a period of at most ten years.")
        return data
