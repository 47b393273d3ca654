"""Serving a few routes on a real port with a real runtime, for the edge's own tests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.routing import BaseRoute

from artery.config import Settings
from artery.gateway.server import HttpServer, Listen
from artery.runtime import Runtime, open_runtime

PROBLEM = "application/problem+json"


@contextlib.asynccontextmanager
async def runtime_on(store_url: str, **settings: Any) -> AsyncIterator[Runtime]:
    async with open_runtime(Settings(store=store_url, **settings)) as runtime:
        yield runtime


@contextlib.asynccontextmanager
async def serving(
    runtime: Runtime, routes: Sequence[BaseRoute], host: str = "127.0.0.1"
) -> AsyncIterator[HttpServer]:
    """``routes`` served by ``HttpServer`` (edge and problem handling included) on a free port."""
    server = HttpServer(Listen(host, 0), routes)
    await server.start(runtime)
    try:
        yield server
    finally:
        await server.stop()


def with_settings(runtime: Runtime, **changes: Any) -> Runtime:
    """The same runtime under other settings (the edge reads them when the server starts)."""
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, **changes))
