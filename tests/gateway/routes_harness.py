"""Interim: serve an app's routes behind a gate until the front door lands."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request

from artery import App
from artery.errors import Unauthenticated
from artery.gateway import api
from artery.gateway.gate import Decision, Gate
from artery.gateway.openapi import OpenApi
from artery.gateway.policy import Principal, Quota
from artery.gateway.server import HttpServer, Listen
from artery.gateway.versions import Deprecations
from artery.publishing import Publisher

KEYS = {
    "k-orders": Principal(
        "orders-team", "key:k-orders", frozenset({"orders:write", "orders:read"})
    ),
    "k-other": Principal("other-team", "key:k-other", frozenset({"orders:write", "orders:read"})),
    "k-none": Principal("nobody", "key:k-none", frozenset()),
}


class HeaderKeys:
    async def authenticate(self, request: Request) -> Principal:
        found = KEYS.get(request.headers.get("x-api-key", ""))
        if found is None:
            raise Unauthenticated("no valid credential", fix="send X-API-Key")
        return found


@dataclass
class Recorded:
    decisions: list[Decision] = field(default_factory=list)

    def record(self, decision: Decision) -> None:
        self.decisions.append(decision)


class Unlimited:
    async def take(self, client: str, route: str, quota: Quota) -> Mapping[str, str]:
        return {}


@dataclass
class Served:
    app: App
    server: HttpServer
    deprecations: Deprecations

    def client(self, key: str = "k-orders") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url, headers={"X-API-Key": key})


@contextlib.asynccontextmanager
async def serve(app: App) -> AsyncIterator[Served]:
    async with app.running(None):
        runtime = app.runtime
        deprecations = Deprecations(flush_every=0.05)
        gate = Gate(HeaderKeys(), Recorded(), Unlimited(), deprecations)
        publisher = Publisher(runtime.log, app.name, app.declared.contracts)
        mounts = api.routes(app.declared, gate, runtime, publisher)
        openapi = OpenApi(app.declared, runtime.registry, deprecations.routes(), app.name)
        mounts.append(openapi.route(gate))
        server = HttpServer(Listen("127.0.0.1", 0), mounts)
        await deprecations.start(runtime)
        await server.start(runtime)
        try:
            yield Served(app, server, deprecations)
        finally:
            await server.stop()
            await deprecations.stop()
