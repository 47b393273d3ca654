"""The HTTP face: one Starlette application of mounts, served by uvicorn.

Each component contributes its mount (``/admin``, ``/api``, ``/hooks``, ``/console``,
``/metrics``, ``/healthz`` and ``/readyz``), each with its own middleware. Around them all,
once: Starlette's last-resort error middleware, then the edge (correlation ids, Host and
Origin checks, CORS, header limits; ``edge.py``), then the catch-all that turns an
unexpected exception into a 500 problem; inside, the handlers that render every other error
as problem+json. The runtime packages (delivery, workflows) never import this package: the
runtime knows no HTTP face.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from artery.config import Settings
from artery.gateway import problems
from artery.gateway.edge import Edge


def http_app(mounts: Sequence[BaseRoute], settings: Settings | None = None) -> Starlette:
    """One ASGI application serving ``mounts``, with the edge's checks (configured by
    ``settings``; the defaults answer loopback host names only, with no CORS) and RFC 9457
    errors for all of them."""
    return Starlette(
        routes=list(mounts),
        exception_handlers=problems.handlers(),
        middleware=[
            Middleware(Edge, settings=settings or Settings()),
            Middleware(problems.UnexpectedErrors),
        ],
    )


__all__ = ["http_app"]
