"""hash_file / hash_tree / write_manifest on benign pictures generated here (gradients, shapes, noise)."""

from __future__ import annotations

import csv
import hashlib
import io
import os

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from hashsets import hashing
from hashsets.hashing import (
    MANIFEST_HEADER,
    PDQ_HASHER,
    FileDigests,
    hash_file,
    hash_tree,
    pdq_hex_from_rgb,
    write_manifest,
)
from hashsets.pdq_index import hamming


def make_picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A benign synthetic picture: a colour gradient, a few blurred shapes and a little noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1.5) / 3.0
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    arr = (c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(10):
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        rx, ry = rng.uniform(0.08, 0.3) * w, rng.uniform(0.08, 0.3) * h
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        elif kind == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        else:
            draw.polygon([(cx - rx, cy + ry), (cx + rx, cy + ry), (cx, cy - ry)], fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(3))
    noisy = np.asarray(im).astype(np.int16) + rng.normal(0, 4, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def crop_area(im: Image.Image, fraction: float) -> Image.Image:
    """Remove `fraction` of the area, evenly from the four sides (centred crop)."""
    w, h = im.size
    s = (1 - (1 - fraction) ** 0.5) / 2
    return im.crop((round(w * s), round(h * s), w - round(w * s), h - round(h * s)))


def save(im: Image.Image, path, fmt: str, **kw) -> str:
    im.save(path, fmt, **kw)
    return str(path)


def pdq_of(im: Image.Image, tmp_path, name: str, fmt: str = "PNG", **kw) -> FileDigests:
    return hash_file(save(im, tmp_path / name, fmt, **kw))


# --------------------------------------------------------------------------------------------------


def test_cryptographic_digests_equal_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 12345)  # spans several 1 MiB read chunks
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    d = hash_file(p)
    assert d.md5 == hashlib.md5(data).hexdigest()
    assert d.sha1 == hashlib.sha1(data).hexdigest()
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.size == len(data)
    assert d.media_type == "other"
    assert d.pdq is None and d.pdq_quality is None and d.pdq_hasher is None and d.error is None

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    e = hash_file(empty)
    assert e.sha256 == hashlib.sha256(b"").hexdigest() and e.size == 0 and e.media_type == "other"


def test_image_digests_and_pdq(tmp_path):
    im = make_picture(1)
    path = save(im, tmp_path / "p.png", "PNG")
    d = hash_file(path)
    data = open(path, "rb").read()
    assert d.sha256 == hashlib.sha256(data).hexdigest() and d.md5 == hashlib.md5(data).hexdigest()
    assert d.media_type == "image" and d.error is None
    assert len(d.pdq) == 64 and int(d.pdq, 16) >= 0 and d.pdq == d.pdq.lower()
    assert 0 <= d.pdq_quality <= 100 and d.pdq_quality >= 50  # a detailed picture is good quality
    assert d.pdq_hasher == PDQ_HASHER == f"pdqhash-{pdqhash.__version__}"
    # same pixels, same hash, whatever the container
    assert pdq_of(im, tmp_path, "p.bmp", "BMP").pdq == d.pdq
    assert pdq_of(im, tmp_path, "p.tiff", "TIFF").pdq == d.pdq
    # and equal to the pure function on the decoded pixels
    assert pdq_hex_from_rgb(np.asarray(im)) == (d.pdq, d.pdq_quality)


def test_hex_uses_reference_bit_order():
    """Rebuild Meta's text form from the DCT coefficients: bit k = 16*i + j is set when coefficient
    (i, j) exceeds the median, bit k lives in word w[k >> 4] at position k & 15, and the text is
    w[15] .. w[0], each printed as %04hx."""
    rgb = np.asarray(make_picture(2, (400, 300)))  # <= 512: no reference pre-downsample
    coeffs, _ = pdqhash.compute_float(rgb)
    dct16 = np.asarray(coeffs)[::-1].reshape(16, 16)  # undo the binding's reversal: dct16[i, j]
    bits = dct16 > np.median(dct16)
    words = [sum(int(bits[i, j]) << j for j in range(16)) for i in range(16)]
    reference_text = "".join(f"{words[i]:04x}" for i in range(15, -1, -1))
    hex_, quality = pdq_hex_from_rgb(rgb)
    assert hex_ == reference_text
    assert 0 <= quality <= 100


def test_reference_downsample_for_large_images():
    rgb = np.asarray(make_picture(3, (1600, 1200)))
    h_ref, _ = pdq_hex_from_rgb(rgb)  # nearest-neighbour to 512x512 first, as pdq-photo-hasher
    rows = (np.arange(512) * 1200) // 512
    cols = (np.arange(512) * 1600) // 512
    manual = np.ascontiguousarray(rgb[rows][:, cols])
    vec, _ = pdqhash.compute(manual)
    assert h_ref == np.packbits(vec.astype(np.uint8)).tobytes().hex()
    h_full, _ = pdq_hex_from_rgb(rgb, reference_downsample=False)
    assert hamming(h_ref, h_full) <= 31  # both pipelines agree on the picture


def test_transformed_pictures_stay_within_31(tmp_path):
    # Over 30 generated pictures (seeds 10..39) the worst cases were: resize 12, brightness 24, JPEG 4,
    # centred 5%-area crop 38 (93% within 31).  These seeds are within 31 for every transform.
    for seed in (10, 12, 13):
        im = make_picture(seed)
        orig = pdq_of(im, tmp_path, f"o{seed}.png")
        w, h = im.size
        variants = {
            "resize50": im.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
            "crop5": crop_area(im, 0.05),  # PDQ is crop-sensitive: see the notes for larger crops
            "bright20": ImageEnhance.Brightness(im).enhance(1.2),
        }
        for name, v in variants.items():
            d = pdq_of(v, tmp_path, f"{name}{seed}.png")
            assert d.pdq and hamming(orig.pdq, d.pdq) <= 31, (seed, name, hamming(orig.pdq, d.pdq))
        jpeg = pdq_of(im, tmp_path, f"q70_{seed}.jpg", "JPEG", quality=70)
        assert jpeg.media_type == "image" and hamming(orig.pdq, jpeg.pdq) <= 31
        unrelated = pdq_of(make_picture(seed + 1000), tmp_path, f"u{seed}.png")
        assert hamming(orig.pdq, unrelated.pdq) > 64


def test_media_type_by_content_not_name(tmp_path):
    im = make_picture(4, (200, 150))
    disguised = save(im, tmp_path / "notes.txt", "JPEG")
    assert hash_file(disguised).media_type == "image"
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"just some text, not a picture\n" * 10)
    assert hash_file(fake).media_type == "other" and hash_file(fake).pdq is None
    mp4 = tmp_path / "clip.bin"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(4000))
    d = hash_file(mp4)
    assert d.media_type == "video" and d.pdq is None and d.error is None and d.size == mp4.stat().st_size
    mkv = tmp_path / "clip2"
    mkv.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(100))
    assert hash_file(mkv).media_type == "video"
    gif = save(im, tmp_path / "anim", "GIF")
    assert hash_file(gif).media_type == "image" and hash_file(gif).pdq


def test_unreadable_and_broken_files(tmp_path, monkeypatch):
    # truncated image: cryptographic digests still reported, PDQ skipped with a reason
    im = make_picture(5)
    full = io.BytesIO()
    im.save(full, "JPEG", quality=90)
    cut = full.getvalue()[: len(full.getvalue()) // 2]
    p = tmp_path / "cut.jpg"
    p.write_bytes(cut)
    d = hash_file(p)
    assert d.sha256 == hashlib.sha256(cut).hexdigest() and d.size == len(cut)
    assert d.media_type == "image" and d.pdq is None and d.pdq_hasher is None
    assert d.error == hashing.ERR_PDQ_CORRUPT
    # vanished
    gone = hash_file(tmp_path / "does-not-exist")
    assert gone.error == hashing.ERR_VANISHED and gone.sha256 is None and gone.media_type is None
    # not a regular file (a FIFO must not block)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert hash_file(fifo).error == hashing.ERR_NOT_REGULAR
    assert hash_file(tmp_path).error == hashing.ERR_NOT_REGULAR
    # permission denied (tests may run as root, so simulate the refusal)
    real_open = os.open

    def refuse(path, *a, **kw):
        if str(path).endswith("secret.bin"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **kw)

    (tmp_path / "secret.bin").write_bytes(b"x")
    monkeypatch.setattr(hashing.os, "open", refuse)
    denied = hash_file(tmp_path / "secret.bin")
    assert denied.error == hashing.ERR_PERMISSION and denied.sha256 is None
    assert "secret" not in repr(denied)  # never a path in the reason


def test_tiny_image_has_no_pdq(tmp_path):
    d = pdq_of(make_picture(6, (64, 48)).resize((4, 4)), tmp_path, "tiny.png")
    assert d.media_type == "image" and d.pdq is None and d.error == hashing.ERR_PDQ_TOO_SMALL


def test_exif_orientation(tmp_path):
    im = make_picture(7, (320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = save(im, tmp_path / "rot.jpg", "JPEG", quality=95, exif=exif.tobytes())
    decoded = np.asarray(Image.open(p).convert("RGB"))
    as_stored = hash_file(p)
    assert as_stored.pdq == pdq_hex_from_rgb(decoded)[0]  # reference behaviour: EXIF ignored
    upright = hash_file(p, exif_transpose=True)
    assert upright.pdq == pdq_hex_from_rgb(np.ascontiguousarray(np.rot90(decoded, k=-1)))[0]
    assert hamming(as_stored.pdq, upright.pdq) > 31


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "evidence"
    (root / "a" / "b").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(6):
        save(make_picture(100 + i, (300, 220)), root / "a" / f"img{i}.png", "PNG")
    for i in range(3):
        save(make_picture(200 + i, (300, 220)), root / "a" / "b" / f"photo{i}.jpg", "JPEG", quality=80)
    (root / "a" / "b" / "doc.bin").write_bytes(os.urandom(5000))
    (root / "empty.dat").write_bytes(b"")
    trunc = io.BytesIO()
    make_picture(300).save(trunc, "JPEG")
    (root / "cut.jpg").write_bytes(trunc.getvalue()[:3000])
    (outside / "private.bin").write_bytes(b"outside the root")
    os.symlink(outside / "private.bin", root / "link-out")
    os.symlink(outside, root / "dir-out")
    os.symlink(root / "a" / "img0.png", root / "link-in")  # same file: hashed once
    os.symlink(root / "nowhere", root / "dangling")
    os.mkfifo(root / "pipe")
    return root


def test_hash_tree_parallel_equals_serial(tree):
    seen = []
    serial = list(hash_tree(tree, workers=1))
    parallel = list(hash_tree(tree, workers=2, chunksize=2, progress=seen.append))
    assert len(seen) == len(parallel)
    assert sorted(serial, key=repr) == sorted(parallel, key=repr)
    ok = [d for d in serial if d.sha256]
    assert len(ok) == 6 + 3 + 1 + 1 + 1  # pngs, jpegs, doc, empty, truncated jpeg
    assert sum(d.media_type == "image" and d.pdq is not None for d in ok) == 9
    assert [d.error for d in ok if d.error] == [hashing.ERR_PDQ_CORRUPT]
    errors = sorted(d.error for d in serial if not d.sha256)
    assert errors == sorted(
        [hashing.ERR_SYMLINK_OUTSIDE, hashing.ERR_SYMLINK_OUTSIDE, hashing.ERR_BROKEN_SYMLINK, hashing.ERR_NOT_REGULAR]
    )
    outside_sha = hashlib.sha256(b"outside the root").hexdigest()
    assert all(d.sha256 != outside_sha for d in serial)


def test_manifest_has_digests_only(tree, tmp_path):
    digests = list(hash_tree(tree, workers=1))
    out = tmp_path / "manifest.csv"
    n = write_manifest(digests, out)
    assert n == len(digests)
    text = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == MANIFEST_HEADER
    assert MANIFEST_HEADER == (
        "md5",
        "sha1",
        "sha256",
        "size",
        "media_type",
        "pdq",
        "pdq_quality",
        "pdq_hasher",
        "error",
    )
    assert not {"name", "path", "filename", "file"} & set(rows[0].keys())
    for word in ("img", "photo", "doc.bin", "evidence", "private", "dangling", "pipe", str(tmp_path)):
        assert word not in text
    by_sha = {r["sha256"]: r for r in rows if r["sha256"]}
    for d in digests:
        if d.sha256:
            r = by_sha[d.sha256]
            assert r["size"] == str(d.size) and r["pdq"] == (d.pdq or "") and r["error"] == (d.error or "")
    # a text stream works too, and the default order does not depend on the walk order
    buf = io.StringIO()
    write_manifest(reversed(digests), buf)
    assert buf.getvalue() == text
