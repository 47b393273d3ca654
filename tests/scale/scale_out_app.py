"""The app the scale-out test runs as separate ``artery gateway`` and ``artery worker``
processes (``cwd`` = this folder, the store and log from ``ARTERY_STORE``/``ARTERY_LOG``).
Its consumer calls a simulated partner (a SQLite file at ``$SCALE_PARTNER``) that records
every call and applies each idempotency key's effect once."""

from __future__ import annotations

import os
import sqlite3

from artery import App, DeliveryContext, Event, WorkerOptions

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

app = App("scale-out")
app.worker_options = WorkerOptions(lease_ttl=3.0, poll_interval=0.02)
orders = app.contract("orders", schema=ORDER, partitions=8)
app.ingest("/orders", orders, scopes=["orders:write"])


@app.consumer(orders, group="erp", dedupe=True)
async def post(event: Event, ctx: DeliveryContext) -> None:
    conn = sqlite3.connect(os.environ["SCALE_PARTNER"], timeout=30, isolation_level=None)
    try:
        conn.execute("INSERT INTO calls (key) VALUES (?)", (ctx.idempotency_key,))
        conn.execute("INSERT OR IGNORE INTO effects (key) VALUES (?)", (ctx.idempotency_key,))
    finally:
        conn.close()
