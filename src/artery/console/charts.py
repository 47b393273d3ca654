"""Small charts drawn on the server as SVG: bars per time bin, delivered above the line
and failed below it. No script and no charting library: a chart is a few dozen rects,
readable by a screen reader through its label and its table fallback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from artery.observe.history import Bin

WIDTH, HEIGHT = 360, 80


def bars(bins: Sequence[Bin], label: str) -> Markup:
    """Delivered per bin (up, green), failed attempts (down, red; a dead letter is its
    last failed attempt), scaled to the busiest."""
    top = max([b.delivered for b in bins] + [1])
    bottom = max([b.failed for b in bins] + [1])
    scale = (HEIGHT - 12) / (top + bottom)
    axis = 4 + top * scale
    width = WIDTH / max(len(bins), 1)
    shapes = []
    for i, b in enumerate(bins):
        x = i * width
        up = b.delivered * scale
        down = b.failed * scale
        tip = f"{_at(b.start)}: {b.delivered} delivered, {b.failed} failed, {b.dead} dead-lettered"
        if up:
            shapes.append(
                f'<rect x="{x:.1f}" y="{axis - up:.1f}" width="{max(width - 1, 1):.1f}"'
                f' height="{up:.1f}" fill="#2da44e"><title>{escape(tip)}</title></rect>'
            )
        if down:
            shapes.append(
                f'<rect x="{x:.1f}" y="{axis:.1f}" width="{max(width - 1, 1):.1f}"'
                f' height="{down:.1f}" fill="#cf222e"><title>{escape(tip)}</title></rect>'
            )
    total = sum(b.delivered for b in bins)
    failed = sum(b.failed for b in bins)
    dead = sum(b.dead for b in bins)
    summary = f"{label}: {total} delivered, {failed} failed attempts, {dead} dead-lettered"
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(summary)}" width="{WIDTH}"'
        f' height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none">'
        f"<title>{escape(summary)}</title>"
        f'<line x1="0" x2="{WIDTH}" y1="{axis:.1f}" y2="{axis:.1f}" stroke="#8c959f"/>'
        + "".join(shapes)
        + "</svg>"
    )


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M")
