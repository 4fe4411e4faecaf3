"""Small hash-set files written by the tests themselves (digests of made-up bytes; no imagery)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VICS2_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"


def digests(n: int, salt: str = "") -> dict[str, str]:
    data = f"benign-{salt}-{n}".encode()
    return {
        "MD5": hashlib.md5(data).hexdigest().upper(),
        "SHA1": hashlib.sha1(data).hexdigest().upper(),
    }


def vics2_file(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps({"@odata.context": VICS2_CONTEXT, "value": records}), encoding="utf-8")
    return path


def vics2_records(count: int, *, category: int = 1, salt: str = "", series: str | None = None) -> list[dict]:
    records = []
    for n in range(count):
        record = {
            "MediaID": n + 1,
            "Category": category,
            "VictimIdentified": "false",
            "IsDistributed": True,
            **digests(n, salt),
        }
        if series:
            record["Series"] = series
        records.append(record)
    return records
