from __future__ import annotations

from django import forms

from cases.models import (
    TLP,
    CaseRole,
    CaseStatus,
    ClueType,
    IdentifierKind,
    LeadStatus,
    MatchState,
    Priority,
    TaskState,
)
from cases.purpose import PURPOSE_CODES
from hashsets.formats.records import CATEGORY_LABELS, Category

CATEGORY_CHOICES = [(c.value, CATEGORY_LABELS[c]) for c in Category]
PURPOSE_CHOICES = list(PURPOSE_CODES.items())


class PurposeFields(forms.Form):
    purpose = forms.ChoiceField(choices=PURPOSE_CHOICES, initial="investigation", required=False, label="Purpose")
    purpose_case = forms.CharField(
        required=False, max_length=32, label="For case (reference)", help_text="Optional: a case you work on."
    )
    purpose_text = forms.CharField(
        required=False, max_length=500, label="Justification", help_text="Optional; recorded as a commitment only."
    )


class CaseFilterForm(PurposeFields):
    q = forms.CharField(required=False, max_length=200, label="Reference or title contains")
    status = forms.ChoiceField(choices=[("", "Any status"), *CaseStatus.choices], required=False)
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *Priority.choices], required=False, coerce=int, empty_value=None
    )
    tlp = forms.ChoiceField(choices=[("", "Any TLP"), *TLP.choices], required=False, label="TLP")
    member = forms.CharField(required=False, max_length=150, label="Member (username)")
    created_from = forms.DateField(required=False, label="Opened from", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="Opened until", widget=forms.DateInput(attrs={"type": "date"}))
    mine = forms.BooleanField(required=False, label="Only my cases")


class CaseForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    tlp = forms.ChoiceField(choices=TLP.choices, initial=TLP.AMBER, label="TLP")


class CaseCreateForm(CaseForm):
    template = forms.ChoiceField(required=False, label="Start from template", choices=[])

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "No template"), *((str(t.pk), t.name) for t in templates)]


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=CaseStatus.choices, label="New status")
    reason = forms.CharField(max_length=500, required=False, label="Reason")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
    role = forms.ChoiceField(choices=CaseRole.choices, initial=CaseRole.MEMBER, label="Case role")


class NoteForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Note", max_length=100_000)


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200)
    assignee = forms.CharField(max_length=150, required=False, label="Assignee (a case member's username)")
    due_date = forms.DateField(required=False, label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class TaskUpdateForm(forms.Form):
    state = forms.ChoiceField(choices=TaskState.choices, label="State")
    assignee = forms.CharField(max_length=150, required=False, label="Assignee (username)")
    due_date = forms.DateField(required=False, label="Due date", widget=forms.DateInput(attrs={"type": "date"}))
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Comment")


class EvidencePasteForm(forms.Form):
    hashes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        label="Digests, one per line",
        help_text="MD5 (32), SHA-1 (40) or SHA-256 (64 hex characters); pdq:<64 hex>:<quality> for PDQ.",
    )


class EvidenceUploadForm(forms.Form):
    file = forms.FileField(
        label="Manifest or hash file",
        help_text="A hash_files manifest (CSV), VICS JSON, CSV with a header, or a hash list. Digests only.",
    )


class TriageFilterForm(forms.Form):
    state = forms.ChoiceField(choices=[("", "Known and unknown"), *MatchState.choices], required=False, label="Match")
    category = forms.ChoiceField(choices=[("", "Any category"), *CATEGORY_CHOICES], required=False)
    disagree = forms.BooleanField(required=False, label="Agencies disagree")


class ClassifyForm(forms.Form):
    # no default: a category nobody chose must not be written over a page of items
    category = forms.ChoiceField(
        choices=[("", "Choose a category"), *CATEGORY_CHOICES],
        label="Category",
        error_messages={"required": "Choose a category: no item was changed."},
    )
    victim_identified = forms.TypedChoiceField(
        choices=[("", "Not known"), ("yes", "Yes"), ("no", "No")],
        required=False,
        coerce=lambda v: {"yes": True, "no": False}.get(v),
        empty_value=None,
        label="Victim identified",
    )
    series = forms.CharField(max_length=200, required=False, label="Series (optional)")


class AttachmentForm(forms.Form):
    file = forms.FileField(label="Document", help_text="PDF, plain text, RTF or office document. No pictures or video.")


class IdentifierForm(forms.Form):
    kind = forms.ChoiceField(choices=IdentifierKind.choices, label="Kind")
    value = forms.CharField(max_length=300, label="Identifier", help_text="Stored only as a keyed hash.")


class SeriesForm(forms.Form):
    name = forms.CharField(max_length=200, label="Series name")


class LeadForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    tlp = forms.ChoiceField(choices=[("", "As the case"), *TLP.choices], required=False, label="TLP")
    tlp_reason = forms.CharField(
        max_length=1000, required=False, label="Reason for a TLP below the case's (supervisors)",
        help_text="Only a supervisor may mark a lead less restrictive than its case; the reason is audited.",
    )  # fmt: skip
    series = forms.CharField(max_length=200, required=False, label="Series (optional)")


class ClueForm(forms.Form):
    type = forms.ChoiceField(choices=ClueType.choices, label="Clue type")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, label="Clue")


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(choices=LeadStatus.choices, label="Status")
    assigned_agency_code = forms.CharField(max_length=16, required=False, label="Assigned agency (code)")
    tlp = forms.ChoiceField(choices=[("", "Unchanged"), *TLP.choices], required=False, label="TLP")
    tlp_reason = forms.CharField(
        max_length=1000, required=False, label="Reason for a TLP below the case's (supervisors)",
        help_text="Only a supervisor may mark a lead less restrictive than its case; the reason is audited.",
    )  # fmt: skip


class ShareRequestForm(forms.Form):
    partners = forms.CharField(
        max_length=200, label="Partner agency codes", help_text="Comma-separated, e.g. RNP, NCA-UK"
    )
    purpose = forms.ChoiceField(choices=PURPOSE_CHOICES, initial="victim_identification", label="Purpose")


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    tlp = forms.ChoiceField(choices=TLP.choices, initial=TLP.AMBER, label="TLP")
    tasks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        label="Default tasks",
        help_text="One per line; add '| days' for a due date, e.g. 'Preserve account data | 3'.",
    )
