"""Admin routes for strangler routing: see and change how forwarded routes split their
traffic, and list the calls they forwarded.

``PUT /admin/splits/{METHOD}/{path}`` (e.g. ``/admin/splits/POST/v1/orders``) with
``{"percent": 30, "header": "X-New"}`` stores a split that overrides the declared one; every
process serving the store applies it within a second. ``DELETE`` on the same path goes back
to the declared split. Who changed a split is the credential the gate admitted.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from artery.admin.scoped import Scoped
from artery.errors import (
    ArteryError,
    ConfigError,
    Conflict,
    ContractViolation,
    NotFound,
    Violation,
)
from artery.gateway.policy import ADMIN_READ, ADMIN_WRITE
from artery.gateway.route import ApiRoute, Split
from artery.gateway.strangler import ForwardedCall, Forwarder, display_url
from artery.numbers import whole
from artery.runtime import Runtime

log = logging.getLogger("artery.admin")

MAX_LIMIT = 1000
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an HTTP field name (RFC 9110)
_FIELDS = ("percent", "header")


class InvalidSplit(ContractViolation):
    """A split body that is not ``{"percent": 0-100, "header": name or null}``."""

    code = "artery.invalid-split"

    def __init__(self, violations: list[Violation]) -> None:
        self.subject = "artery.admin.split"
        self.version = 1
        self.violations = violations
        ArteryError.__init__(
            self,
            "the split is not valid: " + "; ".join(str(v) for v in violations),
            fix='send {"percent": 0 to 100, "header": "X-Header-Name" or null}',
        )


def parse_split(body: bytes) -> Split:
    """The split a PUT body asks for, or ``InvalidSplit`` listing everything wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidSplit([Violation("", "type", "the body is not JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidSplit([Violation("", "type", "the body is not a JSON object")])
    wrong = [
        Violation(f"/{name}", "additionalProperties", f"unknown field {name!r}")
        for name in sorted(set(data) - set(_FIELDS))
    ]
    percent = data.get("percent")
    if "percent" not in data:
        wrong.append(Violation("", "required", "percent is required"))
    elif isinstance(percent, bool) or not isinstance(percent, int):
        wrong.append(Violation("/percent", "type", "percent is not a whole number"))
    elif not 0 <= percent <= 100:
        wrong.append(Violation("/percent", "maximum", "percent is not between 0 and 100"))
    header = data.get("header")
    if header is not None and (not isinstance(header, str) or not _TOKEN.match(header)):
        wrong.append(Violation("/header", "pattern", "header is not an HTTP header name"))
    if wrong:
        raise InvalidSplit(wrong)
    assert isinstance(percent, int)
    return Split(percent, header)


def _iso(at_us: int) -> str:
    return datetime.fromtimestamp(at_us / 1e6, UTC).isoformat()


def split_view(forwarder: Forwarder, route: ApiRoute) -> dict[str, Any]:
    declared = route.split or Split()
    current = forwarder.split_of(route)
    stored = forwarder.stored.get(route.key)
    return {
        "route": route.key,
        "upstream": display_url(route.upstream or ""),
        "handler": route.key in forwarder.handled,
        "percent": current.percent,
        "header": current.header,
        "source": "stored" if stored else "declared",
        "declared": {"percent": declared.percent, "header": declared.header},
        "changed_by": stored.changed_by if stored else None,
        "changed_at": _iso(stored.changed_at_us) if stored else None,
    }


def call_view(call: ForwardedCall) -> dict[str, Any]:
    return {
        "at": _iso(call.at_us),
        "route": call.route,
        "target": call.target,
        "method": call.method,
        "path": call.path,
        "status": call.status,
        "duration_ms": round(call.duration_us / 1000, 3),
        "client": call.client,
        "request_id": call.request_id,
    }


def _who(request: Request) -> str:
    principal = request.scope.get("state", {}).get("principal")
    subject = getattr(principal, "subject", None)
    credential = getattr(principal, "credential", None)
    if not isinstance(subject, str) or not isinstance(credential, str):
        return "unknown"
    return f"{subject} ({credential})"


def _limit(value: str | None) -> int:
    if value is None:
        return 100
    limit = whole(value, MAX_LIMIT)
    if not limit:
        raise ConfigError(
            f"limit={value[:40]!r} is not a number from 1 to {MAX_LIMIT}", fix="e.g. limit=100"
        )
    return limit


def admin_routes(forwarder: Forwarder, runtime: Runtime) -> list[Scoped]:
    """``/splits`` (read, change, reset) and ``/forwarded`` under the admin mount."""

    def route_of(request: Request) -> ApiRoute:
        key = f"{request.path_params['method'].upper()} /{request.path_params['path']}"
        route = forwarder.routes.get(key)
        if route is None:
            raise NotFound(
                f"no forwarded route {key}",
                fix="GET /admin/splits lists the routes that forward to an upstream",
            )
        return route

    async def list_splits(request: Request) -> Response:
        routes = sorted(forwarder.routes.values(), key=lambda r: r.key)
        return JSONResponse({"splits": [split_view(forwarder, r) for r in routes]})

    async def put_split(request: Request) -> Response:
        route = route_of(request)
        split = parse_split(await request.body())
        if route.key not in forwarder.handled and (split.percent or split.header):
            raise Conflict(
                f"route {route.key} has no new handler to send traffic to",
                fix="declare one with @integration.route(..., upstream=...) first",
            )
        who = _who(request)
        await forwarder.set_split(route.key, split, who)
        log.info("split of %s set to %d%% by %s", route.key, split.percent, who)
        return JSONResponse(split_view(forwarder, route))

    async def reset_split(request: Request) -> Response:
        route = route_of(request)
        await forwarder.set_split(route.key, None, _who(request))
        log.info("split of %s reset to its declaration by %s", route.key, _who(request))
        return JSONResponse(split_view(forwarder, route))

    async def list_forwarded(request: Request) -> Response:
        query = request.query_params
        unknown = sorted(set(query) - {"limit", "route"})
        if unknown:
            raise ConfigError(
                f"unknown query parameter(s) {', '.join(unknown)}", fix="use limit and route"
            )
        calls = await forwarder.calls(_limit(query.get("limit")), query.get("route") or None)
        return JSONResponse({"calls": [call_view(c) for c in calls]})

    path = "/splits/{method}/{path:path}"
    return [
        Scoped("/splits", list_splits, ("GET",), ADMIN_READ),
        Scoped(path, put_split, ("PUT",), ADMIN_WRITE),
        Scoped(path, reset_split, ("DELETE",), ADMIN_WRITE),
        Scoped("/forwarded", list_forwarded, ("GET",), ADMIN_READ),
    ]
