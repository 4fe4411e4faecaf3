"""M4 (zip bombs in attachments) and M5 (documents that embed pictures): refused, audited, bounded.

Every document here is built in the test: office files with zipfile, PDFs and RTFs as bytes, the
picture a tiny benign PNG drawn with Pillow. Nothing is ever stored when a document is refused,
and the refusal leaves an audit entry that survives it.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError
from cases import documents, services
from cases.access import Access
from cases.models import Attachment
from cases.selectors import case_context

pytestmark = pytest.mark.django_db

ODT = b"application/vnd.oasis.opendocument.text"
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'wordprocessingml.document.main+xml"/></Types>'
)
DOCUMENT_XML = b"<w:document><w:body><w:p><w:r><w:t>Minutes of the meeting</w:t></w:r></w:p></w:body></w:document>"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def case(alice, agency_a):
    return services.case_create(acting_user=alice, title="Operation Lantern", description="benign")


def _attach(user, case, name: str, data: bytes) -> Attachment:
    context = case_context(user=user, case_id=case.pk, need=Access.WRITE)
    return services.attachment_add(acting_user=user, context=context, upload=SimpleUploadedFile(name, data))


def _refusals() -> int:
    audit_integrate()
    return AuditEntry.objects.filter(action="attachment.add", outcome="failure").count()


def _refused(user, case, name: str, data: bytes, match: str) -> str:
    before = _refusals()
    with pytest.raises(CasebridgeError, match=match) as refused:
        _attach(user, case, name, data)
    assert not Attachment.objects.exists()
    assert _refusals() == before + 1, "the refusal is audited"
    return refused.value.message


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 120, 200)).save(buffer, format="PNG")  # a benign blue square
    return buffer.getvalue()


def _zip(entries: dict[str, bytes], *, stored: tuple[str, ...] = ("mimetype",)) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _docx(**extra: bytes) -> bytes:
    return _zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": DOCUMENT_XML, **extra})


def _odt(**extra: bytes) -> bytes:
    content = b"<office:document-content>minutes</office:document-content>"
    return _zip({"mimetype": ODT, "content.xml": content, **extra})


# --- M4: zip bombs ----------------------------------------------------------------------------


def _bomb(entry_size: int) -> bytes:
    """An ODT whose `mimetype` entry is the right text followed by `entry_size` zeros, streamed
    into the archive so that building it holds no more than one block."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("mimetype", "w") as entry:
            entry.write(ODT)
            block = bytes(1 << 20)
            for _ in range(entry_size >> 20):
                entry.write(block)
        archive.writestr("content.xml", b"<office:document-content/>")
    return buffer.getvalue()


def _peak_during(call) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_m4_a_400_mib_mimetype_entry_is_refused_from_the_central_directory_in_bounded_memory(alice, case):
    bomb = _bomb(400 << 20)
    assert len(bomb) < 1 << 20  # the report's 398 KiB or so
    upload_and_refuse = lambda: _refused(alice, case, "minutes.odt", bomb, r"minutes\.odt cannot be attached: .*bomb")  # noqa: E731
    peak = _peak_during(upload_and_refuse)
    assert peak < 16 << 20, f"refusing the bomb took {peak:,} bytes"


def test_m4_entry_count_ratio_and_lying_sizes_are_refused(alice, case):
    many = _odt(**{f"part{i}.xml": b"<x/>" for i in range(documents.ZIP_MAX_ENTRIES)})
    _refused(alice, case, "many.odt", many, r"holds 2,002 entries")
    dense = _docx(**{"word/styles.xml": bytes(4 << 20)})  # 4 MiB of zeros: under the size bound, not the ratio
    _refused(alice, case, "dense.docx", dense, r"word/styles\.xml.*times its packed size")

    # A bomb whose headers claim the entry is small, to slip under every bound above.
    lying = bytearray(_bomb(64 << 20))
    for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = lying.find(signature)  # the first local header and the first central entry: `mimetype`
        lying[start + at : start + at + 4] = struct.pack("<I", len(ODT))
    peak = _peak_during(lambda: _refused(alice, case, "lying.odt", bytes(lying), r"damaged or forged"))
    assert peak < 16 << 20, peak


def test_m4_bounds_leave_real_documents_alone(alice, case):
    text = b"<w:p>" + b"The quick brown fox jumps over the lazy dog. " * 20_000 + b"</w:p>"  # ~900 KiB, compresses well
    attachment = _attach(alice, case, "long.docx", _docx(**{"word/document.xml": text}))
    assert attachment.kind == "office"
    assert _attach(alice, case, "minutes.odt", _odt()).kind == "office"


def test_m4_entries_are_read_through_a_bounded_stream():
    archive = zipfile.ZipFile(io.BytesIO(_bomb(8 << 20)))
    info = archive.getinfo("mimetype")
    blocks = list(documents.zip_read_bounded(archive, info, 100))
    assert sum(map(len, blocks)) == 100 and b"".join(blocks).startswith(ODT)


# --- M5: documents with pictures --------------------------------------------------------------


def test_m5_docx_with_word_media_image_is_refused(alice, case):
    message = _refused(alice, case, "report.docx", _docx(**{"word/media/image1.png": _png()}), r"embeds a picture")
    assert "word/media/image1.png" in message and "never stores imagery" in message


def test_m5_office_pictures_are_found_by_folder_name_type_and_content(alice, case):
    _refused(alice, case, "a.odt", _odt(**{"Pictures/100000000000.png": _png()}), r"Pictures/")
    _refused(alice, case, "b.docx", _docx(**{"word/blob.bin": _png()}), r"word/blob\.bin. is a picture")
    _refused(alice, case, "c.xlsx", _zip({"[Content_Types].xml": CONTENT_TYPES, "xl/x.jpeg": b"x"}), r"xl/x\.jpeg")
    declared = CONTENT_TYPES.replace(b"</Types>", b'<Default Extension="png" ContentType="image/png"/></Types>')
    docx = _zip({"[Content_Types].xml": declared, "word/document.xml": DOCUMENT_XML})
    _refused(alice, case, "d.docx", docx, r"declares image content")
    _refused(alice, case, "e.odt", _odt(**{"Thumbnails/thumbnail.png": _png()}), r"Thumbnails/")


def _pdf(*objects: bytes) -> bytes:
    body = b"%PDF-1.7\n"
    for number, obj in enumerate(objects, start=1):
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    return body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


def test_m5_pdf_with_an_image_xobject_is_refused(alice, case):
    raw_pixels = bytes(8 * 8 * 3)
    xobject = _stream(b"/Type /XObject /Subtype /Image /Width 8 /Height 8 /BitsPerComponent 8", raw_pixels)
    _refused(alice, case, "scan.pdf", _pdf(CATALOG, xobject), r"scan\.pdf cannot be attached: .*an image object")
    hidden = _stream(b"/Type /XObject /Subtype /Im#61ge /Width 8 /Height 8", raw_pixels)  # a name escape
    _refused(alice, case, "hidden.pdf", _pdf(CATALOG, hidden), r"an image object")
    jpeg = _stream(b"/Filter /DCTDecode", b"\x00" * 16)
    _refused(alice, case, "jpeg.pdf", _pdf(CATALOG, jpeg), r"JPEG")


def test_m5_pdf_with_an_inline_image_in_a_compressed_content_stream_is_refused(alice, case):
    content = b"BT /F1 12 Tf (Minutes) Tj ET\nq 8 0 0 8 0 0 cm\nBI /W 8 /H 8 /CS /G /BPC 8 ID " + bytes(64) + b" EI Q\n"
    page = _stream(b"/Filter /FlateDecode", zlib.compress(content))
    _refused(alice, case, "inline.pdf", _pdf(CATALOG, page), r"an inline image")
    plain = _stream(b"", content)
    _refused(alice, case, "inline-plain.pdf", _pdf(CATALOG, plain), r"an inline image")


def test_m5_pdf_with_text_only_is_attached(alice, case):
    text = _stream(b"/Filter /FlateDecode", zlib.compress(b"BT /F1 12 Tf (BIRD IDs and Minutes) Tj ET\n"))
    assert _attach(alice, case, "minutes.pdf", _pdf(CATALOG, text)).kind == "pdf"


@pytest.mark.parametrize("word", [b"\\pict", b"\\shppict", b"\\objdata"])
def test_m5_rtf_with_pictures_or_objects_is_refused(alice, case, word):
    rtf = b"{\\rtf1\\ansi Minutes {" + word + b"\\pngblip 89504e470d0a1a0a}}"
    _refused(alice, case, "minutes.rtf", rtf, r"minutes\.rtf cannot be attached: .*RTF picture")


def test_m5_rtf_with_text_only_is_attached(alice, case):
    rtf = b"{\\rtf1\\ansi Minutes: the \\b picture\\b0  of the case is clear; \\pictures are not kept.}"
    assert _attach(alice, case, "minutes.rtf", rtf).kind == "rtf"


@pytest.mark.parametrize("name", ["report.docx", "minutes.pdf", "notes.txt", "brief.rtf", "noextension"])
def test_m5_a_picture_is_refused_whatever_its_name(alice, case, name):
    _refused(alice, case, name, _png(), r"is a picture: Casebridge never stores imagery")


def test_m5_text_that_is_a_drawing_or_carries_a_picture_is_refused(alice, case):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"></svg>\n'
    _refused(alice, case, "notes.txt", svg, r"SVG drawing")
    html = b"<p>minutes</p><img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUg'>"
    _refused(alice, case, "notes.html", html, r"picture encoded as text")
    assert _attach(alice, case, "notes.txt", b"Minutes of the meeting; no pictures.\n").kind == "text"


def test_m5_legacy_office_file_with_a_png_inside_is_refused(alice, case):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"Data" + _png() + bytes(64)
    _refused(alice, case, "old.doc", ole, r"PNG, JPEG or GIF")
