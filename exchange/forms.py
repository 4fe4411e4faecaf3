from __future__ import annotations

from django import forms

from exchange.kinds import DATA_TYPES
from hashsets.models import TLP


class PartnerAddForm(forms.Form):
    card = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Agency card (JSON)",
        help_text="Paste the signed agency card the partner sent you.",
    )
    card_url = forms.URLField(
        assume_scheme="https",
        required=False,
        label="…or fetch it from the partner's node",
        help_text="e.g. https://node.partner.example/api/v1/exchange/agencies/RNP/card",
    )

    def clean(self):
        data = super().clean()
        if not data.get("card") and not data.get("card_url"):
            raise forms.ValidationError("Paste the partner's agency card or give the URL to fetch it from.")
        return data


class FingerprintForm(forms.Form):
    signing_fingerprint = forms.CharField(
        max_length=40,
        label="Signing fingerprint, as read out by the partner",
        help_text="Call the partner on a number you already trust and have them read their fingerprint.",
    )


class AgreementForm(forms.Form):
    data_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in DATA_TYPES], widget=forms.CheckboxSelectMultiple, required=False, label="Data shared"
    )
    max_tlp = forms.ChoiceField(choices=TLP.choices, label="Highest TLP")
    requires_approval = forms.BooleanField(required=False, label="A supervisor approves each outgoing share")


class OutboundTokenForm(forms.Form):
    token = forms.CharField(max_length=200, label="Token the partner's node issued to us")


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=200, label="Reason")
