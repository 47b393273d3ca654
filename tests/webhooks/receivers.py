"""The partner's side of outbound webhooks: a real HTTP server on 127.0.0.1 that answers
from a script and keeps what it received, and the secrets it verifies with."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from artery import App, Integration, Settings
from artery.config import Settings as _Settings
from artery.gateway.server import HttpServer, Listen
from artery.runtime import open_runtime

NEW = "whsec_" + base64.b64encode(b"n" * 24).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 24).decode()
ORDER = {"type": "object", "properties": {"total": {"type": "integer"}}}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each call with the next scripted status (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def answer(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(b'{"ok": true}', status, headers=self.headers)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


@contextlib.asynccontextmanager
async def receiving(folder: Path, *receivers: Receiver) -> AsyncIterator[None]:
    """Serve each receiver at its own ``/in`` (the partner needs no store; the server's
    runtime is only its settings, on a scratch file)."""
    async with open_runtime(_Settings(store=f"sqlite:///{folder}/receiver.db")) as runtime:
        servers = []
        for receiver in receivers:
            routes = [Route("/in", receiver.answer, methods=["POST"])]
            server = HttpServer(Listen("127.0.0.1", 0), routes)
            await server.start(runtime)
            receiver.url = server.url + "/in"
            servers.append(server)
        try:
            yield
        finally:
            for server in servers:
                await server.stop()


def shop_app(store_url: str, **destinations: dict[str, Any]) -> App:
    """An app whose ``shop.order`` events go to each named destination (options given)."""
    from artery.delivery.worker import WorkerOptions

    settings = Settings(
        store=store_url, outbound_allow_http=True, outbound_allowed_hosts=("127.0.0.1",)
    )
    app = App("outbound-test", settings=settings, worker=WorkerOptions(retry_poll=0.05))
    shop = Integration("shop", owner="team-shop")
    shop.contract("shop.order", schema=ORDER)
    for name, options in destinations.items():
        shop.webhook_destination(
            name,
            **{"events": ["shop.*"], "secret": "erp-hook", "schedule": ["0.05s"] * 3, **options},
        )
    app.include(shop)
    return app
