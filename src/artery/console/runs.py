"""Console pages: runs (to be built)."""

from __future__ import annotations

from artery.console.web import Console, Page


def pages(console: Console) -> list[Page]:
    return []
