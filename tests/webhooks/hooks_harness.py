"""An app with webhook sources, served by the real front door on a free port of 127.0.0.1,
and the sender's side: signing a body as Standard Webhooks does, with its own library."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from artery import App, Integration, Settings
from artery.gateway.server import Listen
from support import api_key, bearer

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "total_cents", "customer"],
    "properties": {
        "order_id": {"type": "string"},
        "total_cents": {"type": "integer", "minimum": 0},
        "customer": {
            "type": "object",
            "properties": {"email": {"type": "string", "x-artery-classification": "pii"}},
        },
    },
}
SHOP_MAPPING = (
    "{order_id: to_string(id), total_cents: round(multiply(to_number(total_price), `100`)),"
    " customer: {email: customer.email}}"
)
SHOP_ORDER = {
    "id": 820982911946154508,
    "total_price": "403.00",
    "customer": {"email": "jon@example.com", "phone": "+1 555 0100"},
}


@dataclass
class Hooks:
    app: App
    url: str
    admin_key: str

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=bearer(self.admin_key), timeout=10)

    async def stored(self, topic: str = "shop.order") -> int:
        return sum((await self.app.log.heads(topic)).values())


def shop_app(store_url: str, **source: Any) -> App:
    app = App("hooks-test", settings=Settings(store=store_url))
    shop = Integration("shop-sync", owner="team-shop")
    orders = shop.contract("shop.order", schema=ORDER_SCHEMA)
    options: dict[str, Any] = {
        "scheme": "standard-webhooks",
        "secret": "test-shop",
        "emits": orders,
        "mapping": SHOP_MAPPING,
        **source,
    }
    shop.webhook_source("shop", **options)
    app.include(shop)
    return app


@contextlib.asynccontextmanager
async def serving(app: App) -> AsyncIterator[Hooks]:
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        yield Hooks(app, app.http.url, await api_key(app, "admin:read"))


def signed(
    body: bytes, msg_id: str = "msg_1", at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, made by the standardwebhooks library."""
    when = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
