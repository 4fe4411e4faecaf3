"""Writes on a case's content: notes (with every revision kept), tasks (with their log) and
attachments (non-image documents only, recognised by content). Each one audited transaction."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from cases import documents
from cases.access import Access, CaseContext
from cases.models import Attachment, CaseMember, Note, NoteRevision, Task, TaskLogEntry, TaskState
from cases.purpose import purpose_of_case
from cases.services._common import case_audit, case_touch

NOTE_MAX_CHARS = 100_000
ATTACHMENT_MAX_BYTES_DEFAULT = 25 * 1024 * 1024


def _require(context: CaseContext, need: Access = Access.WRITE) -> None:
    if context.access < need:
        raise ForbiddenError("You may not change this case.")


# --- notes ------------------------------------------------------------------------------------


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise CasebridgeError("A note needs some text.")
    if len(body) > NOTE_MAX_CHARS:
        raise CasebridgeError(f"The note is too long: at most {NOTE_MAX_CHARS:,} characters.")
    return body


@transaction.atomic
def note_create(*, acting_user, context: CaseContext, body: str) -> Note:
    _require(context)
    body = _clean_body(body)
    note = Note.objects.create(case=context.case, body=body, author=acting_user)
    NoteRevision.objects.create(note=note, number=1, body=body, edited_by=acting_user)
    case_touch(context.case)
    case_audit(
        action=Action.NOTE_CREATE, user=acting_user, case=context.case, object_type="note", object_id=note.pk,
        sensitive={"body": body},
    )  # fmt: skip
    return note


@transaction.atomic
def note_update(*, acting_user, context: CaseContext, note: Note, body: str) -> Note:
    """A new revision; earlier ones stay. The author, the case lead or a supervisor may edit."""
    _require(context)
    if note.author_id != acting_user.pk and context.access < Access.MANAGE:
        raise ForbiddenError("Only the note's author, the case lead or a supervisor can edit a note.")
    body = _clean_body(body)
    note = Note.objects.select_for_update().get(pk=note.pk, case=context.case)
    if body == note.body:
        return note
    note.revision_count += 1
    note.body = body
    note.updated_at = timezone.now()
    note.save(update_fields=["body", "revision_count", "updated_at"])
    NoteRevision.objects.create(note=note, number=note.revision_count, body=body, edited_by=acting_user)
    case_touch(context.case)
    case_audit(
        action=Action.NOTE_UPDATE, user=acting_user, case=context.case, object_type="note", object_id=note.pk,
        details={"revision": note.revision_count}, sensitive={"body": body},
    )  # fmt: skip
    return note


# --- tasks ------------------------------------------------------------------------------------


def _assignee(context: CaseContext, username: str | None):
    if not username:
        return None
    member = (
        CaseMember.objects.select_related("user")
        .filter(case=context.case, user__username__iexact=username.strip(), user__is_active=True)
        .first()
    )
    if member is None:
        raise CasebridgeError(f"{username!r} is not a member of this case; add them to the case first.")
    return member.user


@transaction.atomic
def task_create(
    *, acting_user, context: CaseContext, title: str, description: str = "", assignee: str | None = None,
    due_date: date | None = None,
) -> Task:  # fmt: skip
    _require(context)
    title = (title or "").strip()
    if not title:
        raise CasebridgeError("A task needs a title.")
    user = _assignee(context, assignee)
    task = Task.objects.create(
        case=context.case, title=title[:200], description=description or "", assignee=user, due_date=due_date,
        created_by=acting_user,
    )  # fmt: skip
    TaskLogEntry.objects.create(task=task, actor=acting_user, change={"state": [None, task.state]})
    case_touch(context.case)
    case_audit(
        action=Action.TASK_CREATE, user=acting_user, case=context.case, object_type="task", object_id=task.pk,
        details={"assignee": user.username if user else None, "due": due_date.isoformat() if due_date else None},
        sensitive={"title": title, "description": description},
    )  # fmt: skip
    return task


_UNSET = object()


@transaction.atomic
def task_update(
    *, acting_user, context: CaseContext, task: Task, state: str | None = None, assignee=_UNSET,
    due_date=_UNSET, comment: str = "",
) -> Task:  # fmt: skip
    """Change a task's state, assignee or due date; each change lands in the task log."""
    _require(context)
    task = Task.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=task.pk, case=context.case)
    change: dict = {}
    if state is not None and state != task.state:
        if state not in TaskState.values:
            raise CasebridgeError(f"Unknown task state {state!r}; use one of: {', '.join(TaskState.values)}.")
        change["state"] = [task.state, state]
        task.state = state
    if assignee is not _UNSET:
        user = _assignee(context, assignee)
        if (user.pk if user else None) != task.assignee_id:
            change["assignee"] = [task.assignee.username if task.assignee else None, user.username if user else None]
            task.assignee = user
    if due_date is not _UNSET and due_date != task.due_date:
        change["due_date"] = [
            task.due_date.isoformat() if task.due_date else None,
            due_date.isoformat() if due_date else None,
        ]
        task.due_date = due_date
    if not change and not comment.strip():
        return task
    task.updated_at = timezone.now()
    task.save(update_fields=["state", "assignee", "due_date", "updated_at"])
    TaskLogEntry.objects.create(task=task, actor=acting_user, change=change, comment=comment.strip())
    case_touch(context.case)
    case_audit(
        action=Action.TASK_UPDATE, user=acting_user, case=context.case, object_type="task", object_id=task.pk,
        details={"change": change}, sensitive={"comment": comment.strip()},
    )  # fmt: skip
    return task


# --- attachments ------------------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OFFICE_CONTENT_TYPES = {
    "pdf": "application/pdf",
    "text": "text/plain; charset=utf-8",
    "rtf": "application/rtf",
    "ole": "application/octet-stream",  # legacy .doc/.xls/.ppt: served as a download only
    "ooxml": "application/octet-stream",
    "odf": "application/octet-stream",
}


@dataclass(frozen=True)
class DocumentKind:
    kind: str
    content_type: str


def attachment_max_bytes() -> int:
    return int(getattr(settings, "CASE_ATTACHMENT_MAX_BYTES", ATTACHMENT_MAX_BYTES_DEFAULT))


def _is_picture_or_video(handle) -> str | None:
    """'image' or 'video' when the content is one, whatever the file is called."""
    from PIL import Image, UnidentifiedImageError

    from hashsets.hashing import sniff_media_type

    handle.seek(0)
    head = handle.read(4096)
    sniffed = sniff_media_type(head)
    if sniffed in ("image", "video"):
        return sniffed
    handle.seek(0)
    try:
        with Image.open(handle) as picture:
            picture.verify()
        return "image"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        handle.seek(0)


def document_kind(handle, size: int) -> DocumentKind:
    """What a document is by its content (PDF, plain text, RTF, office); refuses anything else, and
    any document that embeds a picture (cases.documents: ZIPs are bounded before they are read).

    Raises DocumentRefused (what the document holds) or CasebridgeError (what it is not)."""
    handle.seek(0)
    head = handle.read(8192)
    handle.seek(0)
    try:
        if head.startswith(b"%PDF-"):
            documents.pdf_pictures(_whole(handle, size))
            return DocumentKind("pdf", _OFFICE_CONTENT_TYPES["pdf"])
        if head.startswith(b"{\\rtf"):
            documents.rtf_pictures(_whole(handle, size))
            return DocumentKind("rtf", _OFFICE_CONTENT_TYPES["rtf"])
        if head.startswith(_OLE2):
            documents.ole_pictures(_whole(handle, size))
            return DocumentKind("office", _OFFICE_CONTENT_TYPES["ole"])
        if head.startswith(b"PK\x03\x04"):
            return _zip_document_kind(handle)
        if _is_text(handle):
            documents.text_pictures(head, iter(lambda: handle.read(1 << 16), b""))
            return DocumentKind("text", _OFFICE_CONTENT_TYPES["text"])
    finally:
        handle.seek(0)
    raise CasebridgeError(
        "Only PDF, plain-text, RTF and office documents can be attached; this file's content is none of them."
    )


def _whole(handle, size: int) -> bytes:
    """The whole file (at most the attachment limit, checked before): PDF and RTF are scanned as one."""
    handle.seek(0)
    return handle.read(size + 1)


def _zip_document_kind(handle) -> DocumentKind:
    archive = documents.zip_check(handle)  # the central directory within bounds, before any entry is read
    with archive:
        names = set(archive.namelist())
        kind = None
        if "[Content_Types].xml" in names and any(n.split("/", 1)[0] in ("word", "xl", "ppt") for n in names):
            kind = DocumentKind("office", _OFFICE_CONTENT_TYPES["ooxml"])
        elif "mimetype" in names:
            mimetype = documents.zip_head(archive, "mimetype", 100)
            if mimetype.startswith(b"application/vnd.oasis.opendocument."):
                kind = DocumentKind("office", _OFFICE_CONTENT_TYPES["odf"])
        if kind is None:
            raise CasebridgeError("This ZIP file is not an office document; archives are not accepted as attachments.")
        documents.zip_pictures(archive)
    return kind


def _is_text(handle) -> bool:
    decoder = __import__("codecs").getincrementaldecoder("utf-8")()
    handle.seek(0)
    try:
        for block in iter(lambda: handle.read(1 << 16), b""):
            if b"\x00" in block:
                return False
            decoder.decode(block)
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    finally:
        handle.seek(0)


def attachment_add(*, acting_user, context: CaseContext, upload, name: str | None = None) -> Attachment:
    """Store a document under MEDIA_ROOT. Pictures and videos are refused by content (magic bytes,
    or Pillow can open it), whatever the name says, and so are documents that embed pictures, ZIPs
    past the decompression bounds and anything over the size limit. A refusal is audited in its
    own transaction, so its entry survives the refusal; nothing of the file is kept."""
    _require(context)
    limit = attachment_max_bytes()
    size = getattr(upload, "size", None)
    if size is None:
        upload.seek(0, io.SEEK_END)
        size = upload.tell()
        upload.seek(0)
    display_name = (name or getattr(upload, "name", "") or "attachment").rsplit("/", 1)[-1][:255]
    handle = upload.file if hasattr(upload, "file") else upload
    try:
        kind = _attachment_checked(handle, display_name, size, limit)
    except CasebridgeError as exc:
        with transaction.atomic():
            audit_record(
                action=Action.ATTACHMENT_ADD, actor=actor_for_user(acting_user), outcome=Outcome.FAILURE,
                agency=context.case.agency.code, object_type="attachment", reason=exc.message[:500],
                details={"case": context.case.reference, "size": size}, sensitive={"name": display_name},
                purpose=purpose_of_case(context.case).audit,
            )  # fmt: skip
        raise
    return _attachment_store(acting_user, context, handle, display_name, size, kind)


def _attachment_checked(handle, display_name: str, size: int, limit: int) -> DocumentKind:
    if size > limit:
        raise CasebridgeError(
            f"{display_name} is {size:,} bytes; attachments are limited to {limit:,} bytes ({limit // (1024 * 1024)} MiB)."  # noqa: E501
        )
    if size == 0:
        raise CasebridgeError(f"{display_name} is empty.")
    picture = _is_picture_or_video(handle)
    if picture:
        raise CasebridgeError(
            f"{display_name} is {'a picture' if picture == 'image' else 'a video'}: Casebridge never stores imagery. "
            "Add its digests as evidence instead (hash it with manage.py hash_files)."
        )
    try:
        return document_kind(handle, size)
    except documents.DocumentRefused as exc:
        raise CasebridgeError(f"{display_name} cannot be attached: {exc.message}") from None


@transaction.atomic
def _attachment_store(acting_user, context: CaseContext, handle, display_name: str, size: int, kind) -> Attachment:
    digest = hashlib.sha256()
    handle.seek(0)
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    handle.seek(0)
    attachment = Attachment(
        case=context.case, name=display_name, kind=kind.kind, content_type=kind.content_type, size=size,
        sha256=digest.hexdigest(), uploaded_by=acting_user,
    )  # fmt: skip
    attachment.file.save("upload", File(handle), save=False)
    try:
        attachment.save()
    except Exception:
        attachment.file.storage.delete(attachment.file.name)  # nothing half-kept
        raise
    case_touch(context.case)
    case_audit(
        action=Action.ATTACHMENT_ADD, user=acting_user, case=context.case, object_type="attachment",
        object_id=attachment.pk, details={"kind": kind.kind, "size": size, "sha256": attachment.sha256},
        sensitive={"name": display_name},
    )  # fmt: skip
    return attachment


def attachment_download_record(*, acting_user, context: CaseContext, attachment: Attachment) -> None:
    with transaction.atomic():
        case_audit(
            action=Action.ATTACHMENT_VIEW, user=acting_user, case=context.case, object_type="attachment",
            object_id=attachment.pk, details={"sha256": attachment.sha256},
        )  # fmt: skip
