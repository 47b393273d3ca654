"""A worker process for ordering tests: ``python ordered_worker.py STORE_URL PARTNER_DB``.

Its ordered consumer calls a simulated partner (a SQLite file) that fails now and then and
otherwise applies each idempotency key's effect once, recording ``(key, seq)`` in the order
effects were applied: per key, that order must be the order of publication.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from artery import App, DeliveryContext, Event, Retry, WorkerOptions

ORDER = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "seq": {"type": "integer"}},
    "required": ["key", "seq"],
}


def create_partner(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE effects (idempotency_key TEXT PRIMARY KEY)")
    conn.execute("CREATE TABLE applied (key TEXT NOT NULL, seq INTEGER NOT NULL)")
    conn.commit()
    conn.close()


def partner_apply(path: str, idempotency_key: str, key: str, seq: int) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        fresh = conn.execute(
            "INSERT OR IGNORE INTO effects (idempotency_key) VALUES (?)", (idempotency_key,)
        ).rowcount
        if fresh:
            conn.execute("INSERT INTO applied (key, seq) VALUES (?, ?)", (key, seq))
        conn.execute("COMMIT")
    finally:
        conn.close()


def applied(path: str) -> list[tuple[str, int]]:
    """``(key, seq)`` in the order the partner applied them."""
    conn = sqlite3.connect(path, timeout=30)
    rows = conn.execute("SELECT key, seq FROM applied ORDER BY rowid").fetchall()
    conn.close()
    return [(str(k), int(s)) for k, s in rows]


def build(store_url: str, partner_db: str) -> App:
    app = App("ordered-worker", store=store_url)
    app.worker_options = WorkerOptions(
        lease_ttl=2.0,
        poll_interval=0.02,
        commit_interval=0.05,
        retry_poll=0.05,
        grace=5.0,
    )
    orders = app.contract("orders", schema=ORDER, partitions=8)

    @app.consumer(
        orders,
        group="erp",
        ordered=True,
        dedupe=True,
        concurrency=16,
        retry=Retry(attempts=30, base="20ms", cap="100ms"),
    )
    async def post(event: Event, ctx: DeliveryContext) -> None:
        await asyncio.sleep(random.uniform(0, 0.004))
        if random.random() < 0.25:
            raise ConnectionError("partner flaked")
        data = event.data
        await asyncio.to_thread(
            partner_apply, partner_db, ctx.idempotency_key, data["key"], data["seq"]
        )

    return app


if __name__ == "__main__":
    asyncio.run(build(sys.argv[1], sys.argv[2]).serve())
