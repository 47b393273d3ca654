"""``GET /admin/sources`` (each webhook source: liveness, silent or not, rejections per
reason) and ``GET /admin/sources/{name}/rejections`` (its last rejected calls, redacted)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import ADMIN_READ
from artery.numbers import whole
from artery.webhooks.ledger import KEPT, Ledger


def admin_routes(ledger: Ledger) -> list[Scoped]:
    async def listed(request: Request) -> JSONResponse:
        return JSONResponse({"sources": await ledger.status()})

    async def rejections(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        text = request.query_params.get("limit", str(KEPT))
        limit = whole(text, KEPT)
        if not limit:
            raise ConfigError(f"limit={text[:40]!r} is not usable", fix=f"use 1 to {KEPT}")
        found = await rejections_of(ledger, name, limit)
        return JSONResponse({"source": name, "rejections": found})

    return [
        Scoped("/sources", listed, ("GET",), ADMIN_READ),
        Scoped("/sources/{name}/rejections", rejections, ("GET",), ADMIN_READ),
    ]


async def rejections_of(ledger: Ledger, name: str, limit: int = KEPT) -> list[dict[str, Any]]:
    """The last rejected calls of source ``name``, newest first (the admin API's and the
    console's); an unknown source is refused with where to find the known ones."""
    if name not in ledger.sources:
        raise NotFound(
            f"no webhook source named {name!r}",
            fix=f"known: {', '.join(sorted(ledger.sources)) or 'none'} (GET /admin/sources)",
        )
    return await ledger.rejections(name, limit)


__all__ = ["admin_routes", "rejections_of"]
