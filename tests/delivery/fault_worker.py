"""A worker process for fault tests: ``python fault_worker.py STORE_URL PARTNER_DB``.

Its handler calls a simulated partner (a SQLite file of its own) that records every call
and applies each idempotency key's effect once, as a well-behaved partner API does.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from artery import App, DeliveryContext, Event, Permanent, Retry, WorkerOptions

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def partner_call(path: str, key: str) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("INSERT INTO calls (key) VALUES (?)", (key,))
        conn.execute("INSERT OR IGNORE INTO effects (key) VALUES (?)", (key,))
    finally:
        conn.close()


def build(store_url: str, partner_db: str) -> App:
    app = App("fault-worker", store=store_url)
    app.worker_options = WorkerOptions(
        lease_ttl=2.0,
        poll_interval=0.02,
        commit_interval=0.05,
        retry_poll=0.05,
        grace=5.0,
    )
    orders = app.contract("orders", schema=ORDER, partitions=4)

    @app.consumer(
        orders,
        group="erp",
        dedupe=True,
        concurrency=8,
        retry=Retry(attempts=4, base="20ms", cap="100ms"),
    )
    async def post(event: Event, ctx: DeliveryContext) -> None:
        n = event.data["n"]
        await asyncio.sleep(random.uniform(0, 0.004))
        if n % 50 == 0:
            raise Permanent("partner rejects this order for good")
        if random.random() < 0.1:
            raise ConnectionError("partner flaked")
        await asyncio.to_thread(partner_call, partner_db, ctx.idempotency_key)

    return app


if __name__ == "__main__":
    asyncio.run(build(sys.argv[1], sys.argv[2]).serve())
