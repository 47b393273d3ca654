"""The admin API: JSON over HTTP under ``/admin`` for operators and the console.

``mount`` assembles the routes of each area (delivery, workflows, the front door's own
decisions, deprecations and splits) under one mount of the HTTP face. Every route is a
``Scoped``: it names the scope it needs (``admin:read``, ``admin:write``, or
``admin:destroy`` for what cannot be undone) and is served only through the gate, so no
admin route answers without a credential, whatever address the server is bound to.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import Mount, Route

from artery.admin import delivery, report, slos, workflows
from artery.admin.scoped import Scoped
from artery.gateway.gate import Gate
from artery.gateway.policy import Policy
from artery.integration import Declarations
from artery.runtime import Runtime
from artery.workflows import Workflows

PREFIX = "/admin"


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


def mount(scoped: Iterable[Scoped], gate: Gate) -> Mount:
    """The ``/admin`` mount, each route behind its scope."""
    return Mount(PREFIX, routes=[guarded(route, gate) for route in scoped])


def guarded(route: Scoped, gate: Gate) -> Route:
    key = f"{'|'.join(route.methods)} {PREFIX}{route.path}"
    policy = Policy(scopes=(route.scope,), tags=("admin",))
    return Route(route.path, gate.guard(key, policy, route.endpoint), methods=list(route.methods))


__all__ = ["PREFIX", "Scoped", "mount", "scoped_routes"]
