from __future__ import annotations

from django import forms

from hashsets.formats import EXPORT_FORMATS
from hashsets.formats.records import SCHEME_LABELS, Category, Scheme
from hashsets.models import TLP

SCHEME_CHOICES = [(s.value, SCHEME_LABELS[s]) for s in Scheme]


class HashSetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    tlp = forms.ChoiceField(choices=TLP.choices, initial=TLP.AMBER, label="TLP")
    scheme = forms.ChoiceField(choices=SCHEME_CHOICES, initial=Scheme.VIC_US, label="Category scheme")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="VICS 2.0 or 1.x JSON, CSV with a header, ICSE CSV, or a hash list.")
    scheme = forms.ChoiceField(
        choices=[("", "As the file says"), *SCHEME_CHOICES], required=False, label="Category scheme"
    )
    skip_invalid = forms.BooleanField(
        required=False, label="Skip invalid records (and list them) instead of refusing the file"
    )
    dry_run = forms.BooleanField(required=False, label="Dry run: check and count only")


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(f, f) for f in EXPORT_FORMATS], initial="vics2")
    category = forms.MultipleChoiceField(choices=[(c.value, c.value) for c in Category], required=False)
    series = forms.CharField(required=False, max_length=200)
