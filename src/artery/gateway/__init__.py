"""The HTTP face: one Starlette application of mounts, served by uvicorn.

Each component contributes its mount (``/admin`` now; ``/api``, ``/hooks``, ``/console``,
``/metrics``, ``/healthz`` and ``/readyz`` as they land), each with its own middleware;
problem+json handling wraps them all, once, outermost. The runtime packages (delivery,
workflows) never import this package: the runtime knows no HTTP face.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from artery.gateway import problems


def http_app(mounts: Sequence[BaseRoute]) -> Starlette:
    """One ASGI application serving ``mounts``, with RFC 9457 errors for all of them."""
    return Starlette(
        routes=list(mounts),
        exception_handlers=problems.handlers(),
        middleware=[Middleware(problems.UnexpectedErrors)],
    )


__all__ = ["http_app"]
