"""Case pages: list with filters and purpose, create, detail with its sections, and the small
forms posted from the detail page (status, members, notes, tasks, attachments, identifiers)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agencies.decorators import member_required
from casebridge.errors import CasebridgeError
from cases import forms, selectors, services
from cases.access import Access
from cases.charts import triage_bars
from cases.models import CASE_TRANSITIONS, Priority
from cases.purpose import purpose_from
from cases.views._common import case_or_404, refusable

PAGE_SIZE = 25


@member_required("cases.read")
def case_list_view(request: HttpRequest) -> HttpResponse:
    form = forms.CaseFilterForm(request.GET or None)
    page = None
    error = ""
    if not request.GET or form.is_valid():
        data = form.cleaned_data if request.GET else {}
        try:
            purpose = purpose_from(user=request.user, values=data)
        except CasebridgeError as exc:
            error = exc.message
        else:
            filters = selectors.CaseFilters(
                status=data.get("status") or "", priority=data.get("priority"), tlp=data.get("tlp") or "",
                member=(data.get("member") or "").strip(), created_from=data.get("created_from"),
                created_to=data.get("created_to"), text=(data.get("q") or "").strip(), mine=bool(data.get("mine")),
            )  # fmt: skip
            page = Paginator(selectors.case_list(user=request.user, filters=filters), PAGE_SIZE).get_page(
                request.GET.get("page")
            )
            services.case_list_record(
                acting_user=request.user, purpose=purpose, filters=filters.active(), text=filters.text,
                results=page.paginator.count, page=page.number,
            )  # fmt: skip
    status = 400 if error or (request.GET and not form.is_valid()) else 200
    return render(request, "cases/list.html", {"form": form, "page": page, "error": error}, status=status)


@member_required("cases.work")
@require_http_methods(["GET", "POST"])
def case_create_view(request: HttpRequest) -> HttpResponse:
    templates = list(selectors.case_templates(user=request.user))
    form = forms.CaseCreateForm(request.POST or None, templates=templates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            template = (
                selectors.template_get(user=request.user, template_id=int(data["template"]))
                if data["template"]
                else None
            )
            case = services.case_create(
                acting_user=request.user, title=data["title"], description=data["description"],
                priority=data["priority"], tlp=data["tlp"], template=template,
            )  # fmt: skip
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Case {case.reference} opened. You are its lead.")
            return redirect("case-detail", case_id=case.pk)
    return render(request, "cases/case_form.html", {"form": form, "templates": templates, "creating": True})


@member_required("cases.read")
@refusable
def case_detail_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.METADATA)
    case = context.case
    members = list(selectors.case_members(case=case))
    services.case_view_record(acting_user=request.user, case=case, metadata_only=not context.can_read)
    page = {"ctx": context, "case": case, "members": members, "history": selectors.case_status_history(case=case)}
    if context.can_read:
        summary = selectors.evidence_summary(case=case)
        page.update(
            notes=selectors.case_notes(case=case)[:20],
            tasks=list(selectors.case_tasks(case=case)),
            summary=summary,
            chart=triage_bars(summary),
            leads=list(selectors.lead_list(user=request.user, filters=selectors.LeadFilters(case_id=case.pk))),
            hits=list(selectors.case_deconfliction_hits(case=case)),
            attachments=list(selectors.case_attachments(case=case)),
            series=list(case.series.order_by("name")),
            identifiers=list(case.identifiers.order_by("-added_at").values("kind", "added_at")),
            allowed_status=CASE_TRANSITIONS[case.status],
            status_form=forms.StatusForm(),
            member_form=forms.MemberForm(),
            note_form=forms.NoteForm(),
            task_form=forms.TaskForm(),
            attachment_form=forms.AttachmentForm(),
            identifier_form=forms.IdentifierForm(),
            series_form=forms.SeriesForm(),
        )
        page["status_form"].fields["status"].choices = [
            (value, label)
            for value, label in page["status_form"].fields["status"].choices
            if value in page["allowed_status"]
        ]
    return render(request, "cases/detail.html", page)


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def case_edit_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "edit")
    case = context.case
    form = forms.CaseForm(
        request.POST or None,
        initial={"title": case.title, "description": case.description, "priority": case.priority, "tlp": case.tlp},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.case_update(acting_user=request.user, context=context, **form.cleaned_data)
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Case saved.")
            return redirect("case-detail", case_id=case.pk)
    return render(request, "cases/case_form.html", {"form": form, "case": case, "creating": False})


def _post_form(request, case_id: int, need: Access, form_class, action, success: str, what: str, anchor: str):
    """Validate a small form posted from the detail page, run its service, and go back to the section."""
    context = case_or_404(request, case_id, need, what)
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = action(context, form.cleaned_data)
        except CasebridgeError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success.format(result=result))
    else:
        messages.error(request, " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    return redirect(f"/cases/{context.case.pk}/#{anchor}")


@member_required("cases.work")
@refusable
@require_POST
def case_status_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _post_form(
        request, case_id, Access.MANAGE, forms.StatusForm,
        lambda ctx, d: services.case_status_change(acting_user=request.user, context=ctx, **d).status,
        "The case is now {result}.", "status", "overview",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_POST
def case_member_view(request: HttpRequest, case_id: int) -> HttpResponse:
    if request.POST.get("remove"):
        context = case_or_404(request, case_id, Access.MANAGE, "members")
        try:
            services.case_member_remove(acting_user=request.user, context=context, username=request.POST["remove"])
            messages.success(request, f"{request.POST['remove']} no longer has access to this case.")
        except CasebridgeError as exc:
            messages.error(request, exc.message)
        return redirect(f"/cases/{case_id}/#members")
    return _post_form(
        request, case_id, Access.MANAGE, forms.MemberForm,
        lambda ctx, d: services.case_member_set(acting_user=request.user, context=ctx, **d).user.username,
        "{result} is on the case.", "members", "members",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_POST
def note_create_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _post_form(
        request, case_id, Access.WRITE, forms.NoteForm,
        lambda ctx, d: services.note_create(acting_user=request.user, context=ctx, body=d["body"]),
        "Note added.", "notes", "notes",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def note_edit_view(request: HttpRequest, case_id: int, note_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.READ, "notes")
    try:
        note = selectors.note_get(case=context.case, note_id=note_id)
    except CasebridgeError:
        from django.http import Http404

        raise Http404("No such note") from None
    form = forms.NoteForm(request.POST or None, initial={"body": note.body})
    if request.method == "POST":
        context = case_or_404(request, case_id, Access.WRITE, "notes")
        if form.is_valid():
            try:
                services.note_update(
                    acting_user=request.user, context=context, note=note, body=form.cleaned_data["body"]
                )
            except CasebridgeError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Note saved; the earlier version is kept.")
                return redirect("case-note", case_id=case_id, note_id=note.pk)
    services.case_view_record(acting_user=request.user, case=context.case, section="note")
    return render(
        request,
        "cases/note.html",
        {
            "ctx": context,
            "case": context.case,
            "note": note,
            "form": form,
            "revisions": selectors.note_revisions(note=note),
        },
    )


@member_required("cases.work")
@refusable
@require_POST
def task_create_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _post_form(
        request, case_id, Access.WRITE, forms.TaskForm,
        lambda ctx, d: services.task_create(acting_user=request.user, context=ctx, **d).title,
        "Task “{result}” added.", "tasks", "tasks",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def task_detail_view(request: HttpRequest, case_id: int, task_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.READ, "tasks")
    try:
        task = selectors.task_get(case=context.case, task_id=task_id)
    except CasebridgeError:
        from django.http import Http404

        raise Http404("No such task") from None
    form = forms.TaskUpdateForm(
        request.POST or None,
        initial={
            "state": task.state,
            "assignee": task.assignee.username if task.assignee else "",
            "due_date": task.due_date,
        },
    )
    if request.method == "POST":
        context = case_or_404(request, case_id, Access.WRITE, "tasks")
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.task_update(
                    acting_user=request.user, context=context, task=task, state=data["state"],
                    assignee=data["assignee"] or None, due_date=data["due_date"], comment=data["comment"],
                )  # fmt: skip
            except CasebridgeError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Task updated.")
                return redirect("case-task", case_id=case_id, task_id=task.pk)
    services.case_view_record(acting_user=request.user, case=context.case, section="task")
    return render(
        request,
        "cases/task.html",
        {"ctx": context, "case": context.case, "task": task, "form": form, "log": selectors.task_log(task=task)},
    )


@member_required("cases.work")
@refusable
@require_POST
def attachment_create_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _post_form(
        request, case_id, Access.WRITE, forms.AttachmentForm,
        lambda ctx, d: services.attachment_add(acting_user=request.user, context=ctx, upload=d["file"]).name,
        "{result} attached.", "attachments", "attachments",
    )  # fmt: skip


@member_required("cases.work")
@refusable
def attachment_download_view(request: HttpRequest, case_id: int, attachment_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.READ, "attachments")
    try:
        attachment = selectors.attachment_get(case=context.case, attachment_id=attachment_id)
    except CasebridgeError:
        from django.http import Http404

        raise Http404("No such attachment") from None
    services.attachment_download_record(acting_user=request.user, context=context, attachment=attachment)
    response = FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.name, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@member_required("cases.work")
@refusable
@require_POST
def identifier_create_view(request: HttpRequest, case_id: int) -> HttpResponse:
    def add(ctx, data):
        _, hits = services.identifier_add(acting_user=request.user, context=ctx, **data)
        return f"; {hits} other case{'s' if hits != 1 else ''} hold it: see Deconfliction" if hits else ""

    return _post_form(
        request, case_id, Access.WRITE, forms.IdentifierForm, add, "Identifier added as a keyed hash{result}.",
        "identifiers", "deconfliction",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_POST
def series_link_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _post_form(
        request, case_id, Access.WRITE, forms.SeriesForm,
        lambda ctx, d: services.case_series_link(acting_user=request.user, context=ctx, name=d["name"]).series.name,
        "Series “{result}” linked.", "series", "series",
    )  # fmt: skip


@member_required("cases.supervise")
@require_http_methods(["GET", "POST"])
def template_list_view(request: HttpRequest) -> HttpResponse:
    form = forms.TemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        tasks = []
        for line in data["tasks"].splitlines():
            title, _, days = line.partition("|")
            if title.strip():
                tasks.append((title.strip(), int(days) if days.strip().isdigit() else None))
        try:
            template = services.case_template_create(
                acting_user=request.user, name=data["name"], description=data["description"],
                priority=data["priority"], tlp=data["tlp"], tasks=tasks,
            )  # fmt: skip
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Template “{template.name}” saved with {len(tasks)} default tasks.")
            return redirect("case-templates")
    return render(
        request,
        "cases/templates.html",
        {"form": form, "templates": selectors.case_templates(user=request.user), "priorities": dict(Priority.choices)},
    )
