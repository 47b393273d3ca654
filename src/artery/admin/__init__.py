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

from artery.admin import delivery, workflows
from artery.admin.scoped import Scoped
from artery.gateway.gate import Gate
from artery.gateway.policy import Policy
from artery.integration import Declarations
from artery.runtime import Runtime
from artery.workflows import Workflows

PREFIX = "/admin"


def mount(
    runtime: Runtime,
    declarations: Declarations,
    runs: Workflows,
    gate: Gate,
    more: Iterable[Scoped] = (),
) -> Mount:
    """The ``/admin`` mount for an opened runtime, each route behind its scope."""
    scoped = [
        *delivery.routes(runtime, declarations),
        *workflows.routes(runtime, declarations, runs),
        *more,
    ]
    return Mount(PREFIX, routes=[guarded(route, gate) for route in scoped])


def guarded(route: Scoped, gate: Gate) -> Route:
    key = f"{'|'.join(route.methods)} {PREFIX}{route.path}"
    policy = Policy(scopes=(route.scope,), tags=("admin",))
    return Route(route.path, gate.guard(key, policy, route.endpoint), methods=list(route.methods))


__all__ = ["PREFIX", "Scoped", "mount"]
