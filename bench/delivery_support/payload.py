"""The workload both systems carry: a ~1 KiB JSON order, validated by a contract on Artery.

``sent_at`` (epoch seconds, ``time.time()``) is set just before publishing in latency runs, so
a handler can measure publish-to-start; throughput runs carry it too (same size) but ignore it.
"""

from __future__ import annotations

from typing import Any

import orjson

SUBJECT = "bench.order.placed"
GROUP = "bench-delivery"
DEDUPE_ENV = "ARTERY_BENCH_DEDUPE"  # "1": worker processes run their consumer with dedupe=True
PARTITIONS = 8
CUSTOMERS = 1000
EVENT_BYTES = 1024

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "An order placed in the web shop",
    "type": "object",
    "required": ["order_id", "sent_at", "status", "currency", "customer", "items", "total"],
    "additionalProperties": False,
    "properties": {
        "order_id": {"type": "string", "pattern": "^ord-[0-9]{8}$"},
        "sent_at": {"type": "number", "minimum": 0},
        "status": {"enum": ["placed", "paid", "shipped", "cancelled"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "customer": {
            "type": "object",
            "required": ["id", "name", "email", "city", "country"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^cus-[0-9]{6}$"},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "email": {"type": "string", "format": "email"},
                "city": {"type": "string", "minLength": 1},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            },
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["sku", "name", "quantity", "unit_price"],
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "pattern": "^SKU-[0-9]{5}$"},
                    "name": {"type": "string", "minLength": 1},
                    "quantity": {"type": "integer", "minimum": 1},
                    "unit_price": {"type": "integer", "minimum": 0},
                },
            },
        },
        "total": {"type": "integer", "minimum": 0},
        "notes": {"type": "string", "maxLength": 2000},
    },
}

_PRODUCTS = (
    ("Stainless steel water bottle, 750 ml", 2499),
    ("Organic cotton t-shirt, navy, size M", 1999),
    ("Wireless ergonomic mouse", 3950),
    ("Hardcover notebook, dotted, A5", 1450),
    ("Ceramic pour-over coffee dripper", 2800),
)
_NOTES = "Please leave the parcel with the neighbour at number 12. " * 20


def make_order(n: int, sent_at: float = 0.0) -> dict[str, Any]:
    """Order ``n`` (customer ``n % CUSTOMERS``), padded to ``EVENT_BYTES`` of JSON."""
    customer = n % CUSTOMERS
    items = []
    total = 0
    for line in range(4):
        name, price = _PRODUCTS[(n + line) % len(_PRODUCTS)]
        quantity = 1 + (n + line) % 3
        items.append(
            {
                "sku": f"SKU-{(n * 7 + line * 131) % 100_000:05d}",
                "name": name,
                "quantity": quantity,
                "unit_price": price,
            }
        )
        total += quantity * price
    order: dict[str, Any] = {
        "order_id": f"ord-{n % 100_000_000:08d}",
        "sent_at": sent_at or 1_700_000_000.123456,
        "status": "placed",
        "currency": "EUR",
        "customer": {
            "id": f"cus-{customer:06d}",
            "name": f"Customer Number {customer}",
            "email": f"customer.{customer}@example.com",
            "city": "Rotterdam",
            "country": "NL",
        },
        "items": items,
        "total": total,
        "notes": "",
    }
    pad = EVENT_BYTES - len(orjson.dumps(order))
    order["notes"] = _NOTES[: max(pad, 0)]
    return order


def partition_key(order: dict[str, Any]) -> str:
    return str(order["customer"]["id"])
