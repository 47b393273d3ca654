"""Every page of the console, in the order of its navigation."""

from __future__ import annotations

from artery.console import audit_log, catalog, dead_letters, events, health, runs, webhooks
from artery.console.web import Console, Page


def console_pages(console: Console) -> list[Page]:
    return [
        *catalog.pages(console),
        *health.pages(console),
        *events.pages(console),
        *dead_letters.pages(console),
        *runs.pages(console),
        *webhooks.pages(console),
        *audit_log.pages(console),
    ]
