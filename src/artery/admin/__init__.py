"""The admin API: JSON over HTTP under ``/admin`` for operators and the console.

``create_admin_app`` assembles the route lists of each area (``delivery.routes(app)``, and
more as areas land) under one mount, with RFC 9457 problem+json for every error. The
routes read the running ``App`` (its store, log and registry); serve them with
``artery.admin.server``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from artery.admin import delivery, problems, workflows

if TYPE_CHECKING:
    from artery.app import App

PREFIX = "/admin"


def create_admin_app(app: App) -> Starlette:
    """An ASGI app serving ``app``'s admin routes; ``app`` must be running to answer."""
    routes: list[BaseRoute] = [
        *delivery.routes(app),
        *workflows.routes(app),
    ]
    return Starlette(
        routes=[Mount(PREFIX, routes=routes)],
        exception_handlers=problems.handlers(),
        middleware=[Middleware(problems.UnexpectedErrors)],
    )


__all__ = ["PREFIX", "create_admin_app"]
