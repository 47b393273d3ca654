"""``GET /admin/sources`` (each webhook source: liveness, silent or not, rejections per
reason) and ``GET /admin/sources/{name}/rejections`` (its last rejected calls, redacted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import ADMIN_READ
from artery.webhooks.ledger import KEPT, Ledger


def admin_routes(ledger: Ledger) -> list[Scoped]:
    async def listed(request: Request) -> JSONResponse:
        return JSONResponse({"sources": await ledger.status()})

    async def rejections(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in ledger.sources:
            raise NotFound(
                f"no webhook source named {name!r}",
                fix="list them with GET /admin/sources",
            )
        text = request.query_params.get("limit", str(KEPT))
        if not text.isdigit() or not 1 <= int(text) <= KEPT:
            raise ConfigError(f"limit={text!r} is not usable", fix=f"use 1 to {KEPT}")
        found = await ledger.rejections(name, int(text))
        return JSONResponse({"source": name, "rejections": found})

    return [
        Scoped("/sources", listed, ("GET",), ADMIN_READ),
        Scoped("/sources/{name}/rejections", rejections, ("GET",), ADMIN_READ),
    ]


__all__ = ["admin_routes"]
