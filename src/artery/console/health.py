"""Console pages: health, per integration, in the terms ``artery status`` uses: throughput,
time to sync p50/p99, backlog and its oldest event, error budget left and its burn, silent
sources, disabled destinations and failing loops, with charts of the last hour and day.

Everything is read from the store (the records every working process writes), so a
gateway-only process shows the same page as the worker that did the work.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from artery.console import charts
from artery.console.web import Console, Page
from artery.observe import history
from artery.observe.status import status

HOUR, DAY = 3600.0, 86400.0


def pages(console: Console) -> list[Page]:
    async def health(request: Request) -> Response:
        now = time.time()
        found = await status(console.runtime, console.declared, now)
        hour = await history.windows(console.runtime.store, now, HOUR, 60)
        day = await history.windows(console.runtime.store, now, DAY, 96)
        integrations = [
            _entry(entry, hour.get(entry["name"]), day.get(entry["name"]))
            for entry in found.integrations
        ]
        context = {
            "integrations": integrations,
            "attention": found.attention,
            "unconsumed": found.unconsumed,
            "processes": found.processes,
        }
        return console.templates.render(request, "health.html", context)

    return [Page("/health", health)]


def _entry(
    entry: dict[str, Any], hour: history.Window | None, day: history.Window | None
) -> dict[str, Any]:
    shown = dict(entry)
    for name, window, span in (("hour", hour, "last hour"), ("day", day, "last day")):
        shown[name] = {
            "p50": None if window is None else window.p50,
            "p99": None if window is None else window.p99,
            "synced": 0 if window is None else window.synced,
            "delivered": 0 if window is None else sum(b.delivered for b in window.bins),
            "chart": charts.bars(window.bins if window else [], f"{entry['name']}, {span}"),
        }
    return shown
