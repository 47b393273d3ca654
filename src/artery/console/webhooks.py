"""Console pages: webhooks (to be built)."""

from __future__ import annotations

from artery.console.web import Console, Page


def pages(console: Console) -> list[Page]:
    return []
