"""The process-wide PDQ index, built from the database and kept in step with it.

Media rows are only ever added (classifications come and go, and visibility is applied after the
search), so keeping the index current is a watermark: before each search, codes of media with an
id above the highest one indexed are added. A restarted worker rebuilds from the database by
streaming batches; nothing is pickled.
"""

from __future__ import annotations

import threading

import numpy as np

from hashsets.models import Media
from hashsets.pdq_index import PDQIndex

_BATCH = 50_000
_lock = threading.Lock()
_state: dict = {"index": None, "watermark": 0}


def _batches(after: int):
    last = after
    while True:
        rows = list(
            Media.objects.filter(pk__gt=last, pdq__isnull=False).order_by("pk").values_list("pk", "pdq")[:_BATCH]
        )
        if not rows:
            return
        ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
        codes = np.frombuffer(b"".join(bytes(code) for _, code in rows), dtype=np.uint8).reshape(-1, 32)
        last = rows[-1][0]
        yield ids, codes


def pdq_index_current() -> PDQIndex:
    """The index, caught up with every media row committed so far."""
    with _lock:
        index = _state["index"]
        if index is None:
            index = PDQIndex()
            _state["index"] = index
        for ids, codes in _batches(_state["watermark"]):
            index.add(ids, codes)
            _state["watermark"] = int(ids[-1])
        return index


def pdq_index_reset() -> None:
    """Forget the index (after an erasure removed media, or in tests); the next search rebuilds it."""
    with _lock:
        _state["index"] = None
        _state["watermark"] = 0
