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

from starlette.routing import BaseRoute, Router
from starlette.types import Receive, Scope, Send

from artery.config import Settings
from artery.gateway.edge import Edge


class HttpApp:
    """The ASGI application of ``mounts`` behind the edge."""

    def __init__(self, mounts: Sequence[BaseRoute], settings: Settings) -> None:
        self.router = Router(routes=list(mounts))
        self.edge = Edge(self.router, settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # routing then raises 404 and 405, which the edge renders
        await self.edge(scope, receive, send)


def http_app(mounts: Sequence[BaseRoute], settings: Settings | None = None) -> HttpApp:
    """One ASGI application serving ``mounts``, with the edge's checks (configured by
    ``settings``; the defaults answer loopback host names only, with no CORS) and RFC 9457
    errors for all of them."""
    return HttpApp(mounts, settings or Settings())


__all__ = ["HttpApp", "http_app"]
