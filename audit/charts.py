"""Server-rendered SVG charts (no script, so the strict CSP holds)."""

from __future__ import annotations

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM = 900, 220, 40, 24
LABEL_WIDTH = 80  # "25 Nov 15:00" at font-size 11


def activity_chart(data: dict) -> dict:
    """Stacked bars of entries per hour and action family, as shapes for the template to draw."""
    buckets = data["buckets"]
    series = data["series"]
    families = sorted(series, key=lambda family: -sum(series[family]))
    totals = [sum(series[f][i] for f in families) for i in range(len(buckets))]
    peak = max(totals, default=0) or 1
    slot = (WIDTH - PAD_LEFT) / max(len(buckets), 1)
    bars = []
    for position, bucket in enumerate(buckets):
        y = HEIGHT - PAD_BOTTOM
        for colour, family in enumerate(families):
            count = series[family][position]
            if not count:
                continue
            height = (HEIGHT - PAD_BOTTOM - 10) * count / peak
            y -= height
            bars.append(
                {
                    "x": round(PAD_LEFT + position * slot + 1, 1),
                    "y": round(y, 1),
                    "w": round(max(slot - 2, 1), 1),
                    "h": round(height, 1),
                    "cls": f"sw-{colour % 6}",
                    "title": f"{bucket:%d %b %H:00} UTC: {count} {family}",
                }
            )
    labels = [
        {"x": round(PAD_LEFT + i * slot, 1), "text": f"{bucket:%d %b %H:00}"}
        for i, bucket in enumerate(buckets)
        if i % 12 == 0 and PAD_LEFT + i * slot + LABEL_WIDTH <= WIDTH  # the last one would be cut off
    ]
    legend = [
        {"family": family, "cls": f"sw-{i % 6}", "total": sum(series[family])} for i, family in enumerate(families)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "labels": labels,
        "legend": legend,
        "peak": peak,
        "axis_y": HEIGHT - PAD_BOTTOM,
        "label_y": HEIGHT - 6,
        "empty": not bars,
    }
