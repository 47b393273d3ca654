"""An app for the console's tests, served by the real front door on a free port: a shop
whose orders (with a classified email) go to an ERP that refuses some of them (dead
letters), a fulfilment workflow that waits for a manager's approval, a Standard Webhooks
source, and a destination. Keys are made per test with the scopes it needs."""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from artery import App, DeliveryContext, Event, Integration, Listen, Retry, Settings, WorkerOptions
from artery.workflows import WorkflowContext
from support import api_key

SECRET = "whsec_" + base64.b64encode(b"c" * 32).decode()
FAST = {"lease_ttl": 2.0, "poll_interval": 0.02, "commit_interval": 0.02, "retry_poll": 0.03}
READ = ("console:read",)
OPERATE = ("console:read", "console:write", "console:destroy")
ORDER_V1 = {
    "type": "object",
    "required": ["order_id", "total"],
    "properties": {"order_id": {"type": "string"}, "total": {"type": "number"}},
    "additionalProperties": False,  # so v2 may add fields under backward compatibility
}
ORDER = {
    "type": "object",
    "required": ["order_id", "total"],
    "properties": {
        "order_id": {"type": "string"},
        "total": {"type": "number"},
        "email": {"type": "string", "x-artery-classification": "pii"},
        "note": {"type": "string"},
    },
}
REFUSED = "ERP refused the order: unknown VAT code"


@dataclass
class Console:
    app: App
    url: str  # the server's base URL, no path

    async def key(self, *scopes: str, name: str = "ops") -> str:
        return await api_key(self.app, *(scopes or OPERATE), name=name)

    @contextlib.asynccontextmanager
    async def signed_in(self, *scopes: str, name: str = "ops") -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client with a console session (as a browser would hold it)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            answer = await client.post(
                "/console/sign-in", data={"key": await self.key(*scopes, name=name)}
            )
            assert answer.status_code == 303, answer.text
            yield client

    async def publish_orders(self, count: int, refused_every: int = 0) -> None:
        for n in range(count):
            refused = refused_every and n % refused_every == 0
            order = {"order_id": f"o-{n}", "total": 10.0 * n, "email": f"buyer{n}@example.com"}
            if refused:
                order["note"] = "refuse"
            await self.app.publish("shop.order.placed", order, key=order["order_id"])


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found[1]


def console_app(store_url: str) -> App:
    os.environ["ARTERY_SECRET_CONSOLE_SHOP"] = SECRET
    os.environ["ARTERY_SECRET_CONSOLE_ERP"] = SECRET
    app = App(
        "console-test",
        settings=Settings(
            store=store_url, outbound_allow_http=True, outbound_allowed_hosts=("127.0.0.1",)
        ),
    )
    app.worker_options = WorkerOptions(**FAST)
    shop = Integration(
        "shop-sync",
        owner="team-orders",
        transport_owner="team-platform",
        purpose="post an invoice for every order",
        partners=["erp", "shopify"],
        runbook="https://wiki.example.com/runbooks/shop-sync",
    )
    orders = shop.contract(
        "shop.order.placed",
        schema=ORDER,
        owner="team-orders",
        compatibility="backward",
        examples=[{"order_id": "o-1", "total": 12.5, "email": "a@example.com"}],
        partitions=2,
    )

    @shop.consumer(orders, group="erp-invoices", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        if event.data.get("note") == "refuse":
            raise ValueError(REFUSED)

    @shop.workflow(name="fulfil")
    async def fulfil(ctx: WorkflowContext, order: Any) -> Any:
        await ctx.step(reserve, order)
        decision = await ctx.wait_for_signal("manager-approval", timeout="1h")
        return {"approved": decision == "approve"}

    shop.webhook_source(
        "shopify",
        scheme="standard-webhooks",
        secret="console-shop",
        emits=orders,
        mapping="{order_id: to_string(id), total: to_number(total_price)}",
    )
    shop.webhook_destination(
        "erp-hook",
        url="http://127.0.0.1:9/hooks",
        events=["shop.order.*"],
        secret="console-erp",
    )
    app.include(shop)
    return app


async def reserve(order: Any) -> str:
    return f"reserved {order.get('order_id')}"


async def register_v1(store_url: str) -> None:
    """An older version of the orders contract, registered before the app starts (which
    registers the current one as v2), so the catalog has a diff to show."""
    from artery.contracts import Registry
    from artery.store import open_store

    store = await open_store(store_url)
    try:
        await Registry(store).register(
            "shop.order.placed", ORDER_V1, owner="team-orders", compatibility="backward"
        )
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def serving(store_url: str) -> AsyncIterator[Console]:
    app = console_app(store_url)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        yield Console(app, app.http.url)
