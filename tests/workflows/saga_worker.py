"""A worker process for the workflow kill test: ``python saga_worker.py STORE PARTNER_DB``.

Each saga calls a simulated partner (a SQLite file of its own) in every step and every
compensation, with the step's idempotency key. The partner records each call and applies
each key's effect once, as a well-behaved partner API does.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from artery import App, WorkflowContext, WorkflowOptions, current_step


def partner_call(path: str, action: str) -> str:
    key = current_step().idempotency_key
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("INSERT INTO calls (key, action) VALUES (?, ?)", (key, action))
        conn.execute("INSERT OR IGNORE INTO effects (key, action) VALUES (?, ?)", (key, action))
    finally:
        conn.close()
    return key


def build(store_url: str, partner: str) -> App:
    app = App("saga-worker", store=store_url)
    app.workflow_options = WorkflowOptions(lease_ttl=2.0, poll_interval=0.05)

    async def act(action: str) -> str:
        await asyncio.sleep(random.uniform(0.002, 0.02))
        return await asyncio.to_thread(partner_call, partner, action)

    async def reserve(n: int) -> str:
        return await act("reserve")

    async def charge(n: int) -> str:
        return await act("charge")

    async def ship(n: int) -> str:
        if n % 10 == 0:
            raise RuntimeError("carrier refused the parcel")
        return await act("ship")

    async def release(_: str, n: int) -> str:
        return await act("release")

    async def refund(_: str, n: int) -> str:
        return await act("refund")

    @app.workflow()
    async def saga(ctx: WorkflowContext, n: int) -> str:
        await ctx.step(reserve, n, compensate=release)
        await ctx.step(charge, n, compensate=refund)
        await ctx.step(ship, n)
        return "shipped"

    return app


if __name__ == "__main__":
    asyncio.run(build(sys.argv[1], sys.argv[2]).serve())
