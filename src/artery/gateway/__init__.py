"""The HTTP face: one ASGI application of mounts, served by uvicorn.

Each component contributes its mount (``/admin``, ``/api``, ``/hooks``, ``/console``,
``/metrics``, ``/healthz`` and ``/readyz``), each with its own middleware. Around them all,
once, the edge (correlation ids, Host and Origin checks, CORS, header limits, and every
error as problem+json; ``edge.py``), then Starlette's router. Not the ``Starlette`` class:
its error and exception middleware are two more layers per request that the edge already
covers, and the front door's speed goal is counted in such layers. The runtime packages
(delivery, workflows) never import this package: the runtime knows no HTTP face.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from artery.config import Settings
from artery.gateway.edge import Edge
from artery.observe.http import Observed
from artery.observe.metrics import Metrics
from artery.observe.tracing import Tracing


class _Router(Router):
    """Starlette's router, but a path without parameters is found by one dict lookup:
    the router tries routes in order, a regular expression each, and the front door's
    own dozen come before an integration's first. Only a route no earlier one could
    match is indexed, so which route answers is what Starlette would choose."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        self.static: dict[str, Route] = {}
        for index, route in enumerate(self.routes):
            if not isinstance(route, Route) or route.param_convertors:
                continue
            if route.path not in self.static and not _shadowed(route, self.routes[:index]):
                self.static[route.path] = route

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.static.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope.get("root_path") or scope["method"] not in (route.methods or ()):
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        await route.handle(scope, receive, send)


def _shadowed(route: Route, earlier: Sequence[BaseRoute]) -> bool:
    for method in route.methods or ():
        probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
        if any(other.matches(probe)[0] is not Match.NONE for other in earlier):
            return True
    return False


class HttpApp:
    """The ASGI application of ``mounts`` behind the edge, itself inside the observer
    (requests counted and traced, ``observe/http.py``) when there is one."""

    def __init__(
        self,
        mounts: Sequence[BaseRoute],
        settings: Settings,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.router = _Router(mounts)
        self.edge = Edge(self.router, settings)
        self.outer: ASGIApp = self.edge
        if metrics is not None or (tracing is not None and tracing.recording):
            self.outer = Observed(self.edge, metrics, tracing or Tracing("", enabled=False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # routing then raises 404 and 405, which the edge renders
        await self.outer(scope, receive, send)


def http_app(
    mounts: Sequence[BaseRoute],
    settings: Settings | None = None,
    *,
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
) -> HttpApp:
    """One ASGI application serving ``mounts``, with the edge's checks (configured by
    ``settings``; the defaults answer loopback host names only, with no CORS) and RFC 9457
    errors for all of them; requests counted into ``metrics`` and traced by ``tracing``."""
    return HttpApp(mounts, settings or Settings(), metrics, tracing)


__all__ = ["HttpApp", "http_app"]
