"""The admin API: JSON over HTTP under ``/admin`` for operators and the console.

``mount`` assembles the routes of each area (delivery, workflows, the front door's own
decisions, deprecations and splits) under one mount of the HTTP face. Every route is a
``Scoped``: it names the scope it needs (``admin:read``, ``admin:write``, or
``admin:destroy`` for what cannot be undone) and is served only through the gate, so no
admin route answers without a credential, whatever address the server is bound to.

Each change it serves (a call other than GET answered 2xx) is written to the audit trail
(channel ``api``): who, which route, which path. A failing audit write is logged, never
turned into an error answer for a change that was made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from artery.admin import delivery, report, slos, workflows
from artery.admin.scoped import Scoped, actor
from artery.gateway.gate import Endpoint, Gate
from artery.gateway.policy import Policy
from artery.govern import audit
from artery.integration import Declarations
from artery.runtime import Runtime
from artery.store import Store
from artery.workflows import Workflows

PREFIX = "/admin"
READING = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("artery.admin")


def scoped_routes(
    runtime: Runtime, declarations: Declarations, runs: Workflows, more: Iterable[Scoped] = ()
) -> list[Scoped]:
    """Every admin route of an opened runtime: delivery, workflows and ``more`` (the front
    door's own: decisions, deprecations, splits)."""
    return [
        *delivery.routes(runtime, declarations),
        *workflows.routes(runtime, declarations, runs),
        *report.routes(runtime),
        *slos.routes(runtime, declarations),
        *more,
    ]


def mount(scoped: Iterable[Scoped], gate: Gate, store: Store) -> Mount:
    """The ``/admin`` mount, each route behind its scope, its changes audited in ``store``."""
    return Mount(PREFIX, routes=[guarded(route, gate, store) for route in scoped])


def guarded(route: Scoped, gate: Gate, store: Store) -> Route:
    key = f"{'|'.join(route.methods)} {PREFIX}{route.path}"
    policy = Policy(scopes=(route.scope,), tags=("admin",))
    endpoint = route.endpoint
    if not READING.issuperset(route.methods):
        endpoint = audited(route, store)
    return Route(route.path, gate.guard(key, policy, endpoint), methods=list(route.methods))


def audited(route: Scoped, store: Store) -> Endpoint:
    """``route``'s endpoint, followed by an audit entry when it made a change (2xx)."""

    async def endpoint(request: Request) -> Response:
        response = await route.endpoint(request)
        if request.method not in READING and 200 <= response.status_code < 300:
            entry = audit.Entry(
                actor(request) or "unknown",
                "api",
                f"{request.method} {PREFIX}{route.path}",
                target=request.url.path,
            )
            try:
                await audit.record(store, entry)
            except Exception:  # the change is made: answer it, and say the record is missing
                log.exception("audit entry of %s %s not written", entry.action, entry.target)
        return response

    return endpoint


__all__ = ["PREFIX", "Scoped", "mount", "scoped_routes"]
