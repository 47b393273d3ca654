"""Partition leases fence delivery: an owner whose lease may have run out invokes no
handler of that partition. (The leases themselves are tested in tests/log/test_coordinator.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from delivery_helpers import eventually, make_app

from artery import DeliveryContext, Event
from artery.delivery.worker import Worker


async def test_worker_whose_lease_runs_out_stops_invoking_handlers(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, orders = make_app(store_url, partitions=1)
    calls: list[int] = []
    cancelled = asyncio.Event()

    @app.consumer(orders, group="erp", ordered=True)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        calls.append(event.data["n"])
        if event.data["n"] == 1 and calls.count(1) == 1:
            try:
                await asyncio.Event().wait()  # in flight when the lease runs out
            except asyncio.CancelledError:
                cancelled.set()
                raise

    async with app.running():
        worker = next(s for s in app.services if isinstance(s, Worker))
        renewals = {"broken": True}
        balance = worker.leases.balance

        async def stuck(*args: Any) -> Any:
            if renewals["broken"]:
                raise RuntimeError("injected: leases cannot be renewed")
            return await balance(*args)

        monkeypatch.setattr(worker.leases, "balance", stuck)
        await app.publish(orders, {"n": 1}, key="k1")
        await eventually(cancelled.is_set, timeout=10, what="the in-flight call to be cancelled")
        await app.publish(orders, {"n": 2}, key="k2")
        await asyncio.sleep(1.0)
        assert calls == [1], "no handler runs while the lease is not verifiably held"
        renewals["broken"] = False
        await eventually(lambda: sorted(set(calls)) == [1, 2], timeout=15, what="delivery resumed")
    assert calls.count(1) == 2, "the cancelled event is delivered again, not lost"
