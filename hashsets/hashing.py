"""File digests for evidence triage: cryptographic hashes plus PDQ for images (pure, no Django).

This is the logic behind ``manage.py hash_files DIR --out manifest.csv``.  Only digests and metadata
ever leave this module: no file names, no paths, no pixels.  Error reasons are fixed strings (never an
exception message, which could embed a path).

PDQ follows Meta's reference ``pdq-photo-hasher`` (ThreatExchange ``pdq/cpp``):

* pixels are decoded as stored (EXIF orientation is *not* applied, exactly like the reference's CImg
  loader); ``hash_file(..., exif_transpose=True)`` applies it instead;
* images larger than 512 in either dimension are first resized to 512x512 with nearest-neighbour
  sampling (the reference's ``DOWNSAMPLE_DIMS`` step: CImg ``resize(512, 512)``, source index
  ``floor(x * W / 512)``);
* luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (alpha ignored), Jarosz tent-filter downsample to 64x64, 16x16
  DCT, bit ``k = 16*i + j`` set when DCT coefficient ``(i, j)`` exceeds the median -- done by the C++ code
  inside the ``pdqhash`` package (``pdqhash.compute``);
* hex form: the reference stores the 256 bits in sixteen 16-bit words ``w[0..15]`` (bit ``k`` in
  ``w[k >> 4]``, position ``k & 15``) and prints ``w[15]`` first, each as ``%04hx``.  So the hex string is
  the 256-bit number with bit 255 as the most significant bit.  ``pdqhash.compute`` returns the bit
  vector already reversed (element ``i`` is bit ``255 - i``), so ``np.packbits(vector).hex()`` is exactly
  the reference text form.
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing
import os
import stat
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, fields

import numpy as np
import pdqhash
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "MANIFEST_HEADER",
    "PDQ_HASHER",
    "FileDigests",
    "hash_file",
    "hash_tree",
    "pdq_hex_from_rgb",
    "sniff_media_type",
    "write_manifest",
]

PDQ_HASHER = f"pdqhash-{pdqhash.__version__}"
READ_CHUNK = 1 << 20  # 1 MiB
REFERENCE_DOWNSAMPLE_DIMS = 512  # pdq/cpp/io/pdqio.cpp DOWNSAMPLE_DIMS
MIN_HASHABLE_DIM = 5  # below this the reference returns an all-zero hash with quality 0

MANIFEST_HEADER = ("md5", "sha1", "sha256", "size", "media_type", "pdq", "pdq_quality", "pdq_hasher", "error")

# Fixed error reasons (the manifest's `error` column).
ERR_PERMISSION = "permission denied"
ERR_VANISHED = "vanished"
ERR_NOT_REGULAR = "not a regular file"
ERR_READ = "read error"
ERR_SYMLINK_OUTSIDE = "symlink outside root: not followed"
ERR_BROKEN_SYMLINK = "broken symlink"
ERR_DIR_UNREADABLE = "directory not readable"
ERR_PDQ_UNSUPPORTED = "pdq: unsupported image format"
ERR_PDQ_CORRUPT = "pdq: truncated or corrupt image"
ERR_PDQ_TOO_LARGE = "pdq: image exceeds decompression-bomb limit"
ERR_PDQ_TOO_SMALL = "pdq: image smaller than 5x5"


@dataclass(frozen=True, slots=True)
class FileDigests:
    """Digests of one file. The file's name and path are deliberately not kept."""

    md5: str | None
    sha1: str | None
    sha256: str | None
    size: int | None
    media_type: str | None  # "image" | "video" | "other"; None when the file could not be read
    pdq: str | None = None  # 64 lower-case hex digits (reference text form)
    pdq_quality: int | None = None  # 0..100
    pdq_hasher: str | None = None  # e.g. "pdqhash-0.2.8"
    error: str | None = None  # fixed reason string, see ERR_*

    def as_row(self) -> list[str]:
        return ["" if v is None else str(v) for v in astuple(self)]


if tuple(f.name for f in fields(FileDigests)) != MANIFEST_HEADER:  # a check that also runs under python -O
    raise ImportError("FileDigests fields and MANIFEST_HEADER disagree: the manifest columns would shift")


# --------------------------------------------------------------------------------------------------
# content sniffing (never by name)

_ISO_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_PIL_FALLBACK_FORMATS = ("PPM", "ICO", "JPEG2000", "QOI", "PSD", "DDS", "SGI", "PCX", "XBM", "IM")


def sniff_media_type(head: bytes) -> str | None:
    """ "image" / "video" from magic bytes, or None when the signature is not one we know."""
    h = head
    if h[:3] == b"\xff\xd8\xff":
        return "image"  # JPEG
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return "image"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if h[:2] == b"BM" and len(h) >= 14:
        return "image"
    if h[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"  # TIFF (and most camera raw files)
    if h[:4] == b"RIFF" and h[8:12] == b"WEBP":
        return "image"
    if h[:4] == b"RIFF" and h[8:12] in (b"AVI ", b"AVIX"):
        return "video"
    if h[4:8] == b"ftyp":
        brand = h[8:12]
        compatible = {h[i : i + 4] for i in range(16, min(len(h), 64), 4)}
        if brand in _ISO_IMAGE_BRANDS or (brand not in (b"isom", b"mp41", b"mp42") and compatible & _ISO_IMAGE_BRANDS):
            return "image"  # HEIF / AVIF stills
        if brand.startswith(b"M4A") or brand in (b"M4B ", b"M4P "):
            return None  # audio-only MPEG-4
        return "video"  # mp4, mov (qt), 3gp, m4v, ...
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return "video"  # Matroska / WebM
    if h[:3] == b"FLV":
        return "video"
    if h[:16] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c":
        return "video"  # ASF / WMV
    if h[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video"  # MPEG program stream / elementary stream
    if len(h) > 376 and h[0] == 0x47 and h[188] == 0x47 and h[376] == 0x47:
        return "video"  # MPEG transport stream
    if h[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and len(h) >= 8:
        return "video"  # old QuickTime without ftyp
    return None


def _pil_identifies(f) -> bool:
    f.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(f, formats=_PIL_FALLBACK_FORMATS):
                return True
    except Exception:  # noqa: BLE001 - any failure means "not an image we know"
        return False


# --------------------------------------------------------------------------------------------------
# PDQ


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    if im.mode == "RGB":
        return np.asarray(im)
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        a = np.asarray(im)
        if im.mode == "F":
            a8 = np.clip(a, 0, 255).astype(np.uint8)
        else:
            a = a.astype(np.int64)
            a8 = (np.clip(a, 0, 65535) >> 8).astype(np.uint8) if a.max(initial=0) > 255 else a.astype(np.uint8)
        return np.repeat(a8[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _reference_downsample(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    d = REFERENCE_DOWNSAMPLE_DIMS
    if h <= d and w <= d:
        return rgb
    rows = (np.arange(d, dtype=np.int64) * h) // d
    cols = (np.arange(d, dtype=np.int64) * w) // d
    return rgb[rows[:, None], cols[None, :]]


def pdq_hex_from_rgb(rgb: np.ndarray, *, reference_downsample: bool = True) -> tuple[str, int]:
    """PDQ of an RGB uint8 array (h, w, 3) -> (64-hex-digit hash, quality 0..100)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an (h, w, 3) uint8 RGB array")
    if reference_downsample:
        rgb = _reference_downsample(rgb)
    rgb = np.ascontiguousarray(rgb[:, :, :3])
    vector, quality = pdqhash.compute(rgb)
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex(), int(quality)


def _pdq_of_open_file(f, exif_transpose: bool) -> tuple[str | None, int | None, str | None]:
    f.seek(0)
    try:
        with Image.open(f) as im:
            im.load()
            if exif_transpose:
                im = ImageOps.exif_transpose(im)
            if im.width < MIN_HASHABLE_DIM or im.height < MIN_HASHABLE_DIM:
                return None, None, ERR_PDQ_TOO_SMALL
            rgb = _to_rgb_array(im)
    except Image.DecompressionBombError:
        return None, None, ERR_PDQ_TOO_LARGE
    except UnidentifiedImageError:
        return None, None, ERR_PDQ_UNSUPPORTED
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError):
        return None, None, ERR_PDQ_CORRUPT
    hex_, quality = pdq_hex_from_rgb(rgb)
    return hex_, quality, None


# --------------------------------------------------------------------------------------------------
# one file


def _oserror_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return ERR_PERMISSION
    if isinstance(e, FileNotFoundError):
        return ERR_VANISHED
    if isinstance(e, IsADirectoryError):
        return ERR_NOT_REGULAR
    name = {5: "EIO", 6: "ENXIO", 40: "ELOOP", 116: "ESTALE"}.get(e.errno or 0)
    return f"{ERR_READ} ({name})" if name else ERR_READ


def _error(reason: str) -> FileDigests:
    return FileDigests(None, None, None, None, None, error=reason)


def hash_file(path: str | os.PathLike, *, exif_transpose: bool = False) -> FileDigests:
    """Digests of one file: md5/sha1/sha256 (streamed in 1 MiB chunks), size, media type by content,
    and for images PDQ hex + quality.  Never raises for unreadable files: `error` says why."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return _error(_oserror_reason(e))
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as e:
        os.close(fd)
        return _error(_oserror_reason(e))
    if not regular:
        os.close(fd)
        return _error(ERR_NOT_REGULAR)
    with os.fdopen(fd, "rb", buffering=0) as f:
        try:
            md5 = hashlib.md5(usedforsecurity=False)
            sha1 = hashlib.sha1(usedforsecurity=False)
            sha256 = hashlib.sha256()
            buf = bytearray(READ_CHUNK)
            view = memoryview(buf)
            size = 0
            head = b""
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                chunk = view[:k]
                if size < 512:
                    head = (head + bytes(chunk[: 512 - size]))[:512]
                md5.update(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                size += k
        except OSError as e:
            return _error(_oserror_reason(e))
        media = sniff_media_type(head)
        if media is None and size and _pil_identifies(f):
            media = "image"
        media = media or "other"
        pdq = quality = hasher = err = None
        if media == "image":
            pdq, quality, err = _pdq_of_open_file(f, exif_transpose)
            hasher = PDQ_HASHER if pdq is not None else None
        return FileDigests(
            md5=md5.hexdigest(),
            sha1=sha1.hexdigest(),
            sha256=sha256.hexdigest(),
            size=size,
            media_type=media,
            pdq=pdq,
            pdq_quality=quality,
            pdq_hasher=hasher,
            error=err,
        )


# --------------------------------------------------------------------------------------------------
# a tree


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_tasks(root: str) -> Iterator[tuple[str, str]]:
    """("hash", real_path) or ("skip", reason) for every entry below `root` (symlinks resolved,
    never followed outside `root`, each inode once)."""
    seen: set[tuple[int, int]] = set()
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append, followlinks=False):
        while errors:
            errors.pop()
            yield ("skip", ERR_DIR_UNREADABLE)
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p) and not _inside(os.path.realpath(p), root):
                yield ("skip", ERR_SYMLINK_OUTSIDE)
            # symlinked directories inside the root are walked through their real location
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                if os.path.islink(p):
                    real = os.path.realpath(p)
                    if not _inside(real, root):
                        yield ("skip", ERR_SYMLINK_OUTSIDE)
                        continue
                    if not os.path.exists(real):
                        yield ("skip", ERR_BROKEN_SYMLINK)
                        continue
                    p = real
                st = os.stat(p)
            except FileNotFoundError:
                yield ("skip", ERR_VANISHED)
                continue
            except OSError as e:
                yield ("skip", _oserror_reason(e))
                continue
            if not stat.S_ISREG(st.st_mode):
                yield ("skip", ERR_NOT_REGULAR)
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue  # hard link or symlink to a file already hashed
            seen.add(key)
            yield ("hash", p)
    while errors:
        errors.pop()
        yield ("skip", ERR_DIR_UNREADABLE)


def _run_task(task: tuple[str, str], exif_transpose: bool = False) -> FileDigests:
    kind, arg = task
    if kind == "skip":
        return _error(arg)
    return hash_file(arg, exif_transpose=exif_transpose)


def _run_task_plain(task):
    return _run_task(task, False)


def _run_task_exif(task):
    return _run_task(task, True)


def hash_tree(
    root: str | os.PathLike,
    *,
    workers: int = 2,
    progress: Callable[[FileDigests], object] | None = None,
    chunksize: int = 4,
    exif_transpose: bool = False,
    mp_context: str = "spawn",
) -> Iterator[FileDigests]:
    """Digests of every regular file below `root`, in completion order (not directory order).

    ``workers`` processes (``multiprocessing`` pool, ``imap_unordered`` with ``chunksize``; ``workers=1``
    runs in-process).  Unreadable entries are yielded with ``error`` set and no digests; symlinks are
    followed only when they resolve inside `root`.  ``progress(digests)`` is called once per entry
    (e.g. ``progress=lambda d: bar.update(1)`` with tqdm).
    """
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        raise NotADirectoryError(f"not a directory: {root!s}")
    func = _run_task_exif if exif_transpose else _run_task_plain
    tasks = _walk_tasks(real_root)
    if workers <= 1:
        for task in tasks:
            d = func(task)
            if progress is not None:
                progress(d)
            yield d
        return
    # Bound the number of paths queued ahead of the workers (Pool's feeder thread is otherwise eager).
    in_flight = threading.Semaphore(max(64, workers * chunksize * 8))
    closing = threading.Event()

    def throttled() -> Iterator[tuple[str, str]]:
        for task in tasks:
            in_flight.acquire()
            if closing.is_set():
                return
            yield task

    ctx = multiprocessing.get_context(mp_context)
    pool = ctx.Pool(processes=workers)
    try:
        for d in pool.imap_unordered(func, throttled(), chunksize=chunksize):
            in_flight.release()
            if progress is not None:
                progress(d)
            yield d
        pool.close()
    finally:
        closing.set()
        for _ in range(workers * chunksize * 8 + 64):
            in_flight.release()
        pool.terminate()
        pool.join()


# --------------------------------------------------------------------------------------------------
# manifest


def write_manifest(digests: Iterable[FileDigests], out, *, sort: bool = True) -> int:
    """Write a CSV manifest (header ``MANIFEST_HEADER``; no names or paths).  `out` is a path or a text
    stream.  Rows are sorted by (sha256, error) by default so the output does not reflect the
    directory order.  Returns the number of rows written."""
    rows = (d.as_row() for d in digests)
    if sort:
        rows = iter(sorted(rows, key=lambda r: (r[2], r[8], r[5])))
    if isinstance(out, (str, os.PathLike)):
        with open(out, "w", newline="", encoding="utf-8") as fh:
            return _write_rows(rows, fh)
    return _write_rows(rows, out)


def _write_rows(rows: Iterator[list[str]], fh: io.TextIOBase) -> int:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(MANIFEST_HEADER)
    n = 0
    for r in rows:
        w.writerow(r)
        n += 1
    return n
