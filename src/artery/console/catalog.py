"""Console pages: the catalog (stub until its pages land)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from artery.console.web import Console, Page


def pages(console: Console) -> list[Page]:
    async def index(request: Request) -> Response:
        return console.templates.render(
            request, "error.html", {"status": 200, "message": "x", "fix": None}
        )

    return [Page("/catalog", index)]
