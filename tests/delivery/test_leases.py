"""Partition leases fence delivery: one owner per partition, and an owner whose lease may
have run out invokes no handler of that partition."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from delivery_helpers import eventually, make_app

from artery import DeliveryContext, Event
from artery.delivery.leases import Leases
from artery.delivery.worker import Worker
from artery.store import SqlStore
from artery.store.engine import SqlTx


async def test_a_free_partition_is_taken_by_one_worker_only(store: SqlStore) -> None:
    first, second = Leases(store, "first"), Leases(store, "second")
    conn = store.dialect.connect(write=True)
    try:
        tx = SqlTx(conn, store.dialect)
        tx.execute(store.dialect.begin_write)
        taken_first = first._balance(tx, "erp", "orders", 1)  # not committed yet
        racing = asyncio.create_task(second.balance("erp", "orders", 1))
        await asyncio.sleep(0.3)  # the second balance now waits on the first's claim
        tx.execute("COMMIT")
        taken_second = await asyncio.wait_for(racing, timeout=10)
    finally:
        conn.close()
    owners = await store.read(lambda tx: tx.execute("SELECT owner FROM partition_leases"))
    assert taken_first.keep == {0}
    assert taken_second.keep == set(), "the partition already had an owner"
    assert [r[0] for r in owners] == ["first"]


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
