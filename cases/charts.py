"""Server-rendered SVG shapes for the case pages (no script: the strict CSP holds)."""

from __future__ import annotations

WIDTH, BAR_HEIGHT, GAP, LABEL_WIDTH = 600, 26, 8, 150


def triage_bars(summary: dict) -> dict:
    """Horizontal bars: known, near match, unknown evidence items of a case."""
    rows = [("Known", summary["known"], "sw-2"), ("Near match (PDQ)", summary["near"], "sw-4"),
            ("Unknown", summary["unknown"], "sw-1")]  # fmt: skip
    peak = max((n for _, n, _ in rows), default=0) or 1
    bars = []
    for position, (label, count, cls) in enumerate(rows):
        width = round((WIDTH - LABEL_WIDTH - 60) * count / peak, 1)
        y = position * (BAR_HEIGHT + GAP)
        bars.append(
            {
                "label": label,
                "count": count,
                "cls": cls,
                "x": LABEL_WIDTH,
                "y": y,
                "w": max(width, 1 if count else 0),
                "h": BAR_HEIGHT,
                "text_y": y + BAR_HEIGHT * 0.7,
                "count_x": LABEL_WIDTH + width + 6,
            }
        )
    return {"width": WIDTH, "height": len(rows) * (BAR_HEIGHT + GAP), "bars": bars, "empty": summary["total"] == 0}
