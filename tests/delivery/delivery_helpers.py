"""Shared pieces for delivery tests: a contract, a fast worker, and polling until true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from artery import App

ORDER = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "customer": {"type": "string"}},
    "required": ["n"],
}
FAST = {
    "lease_ttl": 2.0,
    "poll_interval": 0.02,
    "commit_interval": 0.02,
    "retry_poll": 0.03,
    "grace": 5.0,
}


def make_app(store_url: str, partitions: int = 4) -> tuple[App, object]:
    app = App("delivery-test", store=store_url)
    app.worker_options = dict(FAST)
    orders = app.contract("orders", schema=ORDER, partitions=partitions)
    return app, orders


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
