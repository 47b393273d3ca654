"""Console pages: the audit trail. Who did what by hand, through the console, the admin
API or the CLI, newest first, narrowed by actor, channel and integration: the one page
that answers "who touched this" whatever the door (``govern/audit.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from artery.console.web import Console, Page, int_param
from artery.errors import ConfigError
from artery.govern import audit
from artery.store import LARGEST_INTEGER

LIMIT = 100  # entries per page


def pages(console: Console) -> list[Page]:
    async def trail(request: Request) -> Response:
        query = request.query_params
        channel = query.get("channel") or None
        if channel is not None and channel not in audit.CHANNELS:
            raise ConfigError(
                f"channel={channel!r} is not a channel of the audit trail",
                fix=f"use one of {', '.join(audit.CHANNELS)}, or leave it empty for all",
            )
        filters = {
            "actor": query.get("actor", "").strip() or None,
            "channel": channel,
            "integration": query.get("integration", "").strip() or None,
        }
        before = int_param(request, "before_id", 0, 1, LARGEST_INTEGER) or None
        found = await audit.entries(console.runtime.store, **filters, before_id=before, limit=LIMIT)
        context = {
            "entries": found,
            "filters": filters,
            "channels": audit.CHANNELS,
            "older": found[-1]["id"] if len(found) == LIMIT else None,
            "paged": before is not None,
        }
        return console.templates.render(request, "audit.html", context)

    return [Page("/audit", trail)]
