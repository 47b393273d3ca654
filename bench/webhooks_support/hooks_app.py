"""The app ``bench/webhooks.py`` serves: one Standard Webhooks source and one destination.

    cd bench && ARTERY_SECRET_BENCH_HOOK=whsec_... ARTERY_BENCH_RECEIVER=http://127.0.0.1:P/in \\
        artery --store URL gateway webhooks_support.hooks_app:app --port 8080

``POST /hooks/shop`` verifies a Standard Webhooks call, maps the ~1 KiB order (JMESPath)
and validates it against its contract, then appends it durably before answering. Every
``bench.order`` event is also delivered to ``ARTERY_BENCH_RECEIVER`` (the bench's local
receiver, allowed through the address guard explicitly).
"""

from __future__ import annotations

import os

from artery import App, Integration, Settings

SCHEMA = {
    "type": "object",
    "required": ["order_id", "total_cents", "lines"],
    "properties": {
        "order_id": {"type": "string"},
        "total_cents": {"type": "integer", "minimum": 0},
        "currency": {"type": "string"},
        "lines": {"type": "array", "items": {"type": "object"}},
    },
}
MAPPING = (
    "{order_id: to_string(id), total_cents: round(multiply(to_number(total_price), `100`)),"
    " currency: currency, lines: line_items[].{sku: sku, quantity: quantity}}"
)

app = App(
    "bench-webhooks",
    settings=Settings(
        sqlite_synchronous="FULL", outbound_allow_http=True, outbound_allowed_hosts=("127.0.0.1",)
    ),
)
shop = Integration("bench-shop", owner="bench")
orders = shop.contract("bench.order", schema=SCHEMA)
shop.webhook_source(
    "shop", scheme="standard-webhooks", secret="bench-hook", emits=orders, mapping=MAPPING
)
shop.webhook_destination(
    "receiver",
    url=os.environ.get("ARTERY_BENCH_RECEIVER", "http://127.0.0.1:9/in"),
    events=["bench.order"],
    secret="bench-hook",
)
app.include(shop)
