"""Shared pieces for delivery tests: a contract and a fast worker."""

from __future__ import annotations

from artery import App, WorkerOptions
from support import eventually

__all__ = ["FAST", "ORDER", "eventually", "make_app"]

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
    app.worker_options = WorkerOptions(**FAST)
    orders = app.contract("orders", schema=ORDER, partitions=partitions)
    return app, orders
