"""Partition leases fence delivery: one owner per partition, and an owner whose lease may
have run out invokes no handler of that partition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import pytest
from delivery_helpers import eventually, make_app

from artery import DeliveryContext, Event
from artery.delivery.leases import Leases
from artery.delivery.worker import Worker
from artery.store import SqlStore
from artery.store.engine import SqlTx

T = TypeVar("T")


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


class CountingTx:
    """A real transaction that counts the statements reading the lease rows."""

    def __init__(self, tx: SqlTx) -> None:
        self.tx = tx
        self.dialect = tx.dialect
        self.lease_reads = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.lease_reads += "FROM partition_leases" in sql
        return self.tx.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.tx.executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


async def in_one_transaction(store: SqlStore, op: Callable[[CountingTx], T]) -> T:
    """Run ``op`` in a transaction of its own connection, as the writer runs a batch."""

    def run() -> T:
        conn = store.dialect.connect(write=True)
        try:
            tx = SqlTx(conn, store.dialect)
            tx.execute(store.dialect.begin_write)
            result = op(CountingTx(tx))
            tx.execute("COMMIT")
            return result
        finally:
            conn.close()

    return await asyncio.to_thread(run)


async def test_fence_locks_a_groups_leases_once_per_transaction(store: SqlStore) -> None:
    leases = Leases(store, "w1")
    for topic in ("orders", "refunds"):
        assert (await leases.balance("erp", topic, 4)).keep == {0, 1, 2, 3}

    def settle_batch(tx: CountingTx) -> tuple[list[bool], int]:
        checks = [
            leases.holds(tx, "erp", topic, p)
            for _ in range(3)  # a batch of settlements, several per partition
            for topic in ("orders", "refunds")
            for p in range(4)
        ]
        return checks, tx.lease_reads

    checks, lease_reads = await in_one_transaction(store, settle_batch)
    assert all(checks) and len(checks) == 24
    assert lease_reads == 2, "one lease check per (group, topic) per transaction, not per job"


async def test_fence_sees_a_takeover_in_the_next_transaction(store: SqlStore) -> None:
    old, new = Leases(store, "old", ttl=0.2), Leases(store, "new", ttl=10)
    assert (await old.balance("erp", "orders", 1)).keep == {0}
    assert await in_one_transaction(store, lambda tx: old.holds(tx, "erp", "orders", 0))
    await asyncio.sleep(0.3)  # the old owner's lease runs out; the new one takes over
    assert (await new.balance("erp", "orders", 1)).keep == {0}
    lost = await in_one_transaction(store, lambda tx: old.holds(tx, "erp", "orders", 0))
    assert not lost, "a worker that lost a partition settles nothing of it"


async def test_fence_sees_a_renewal_made_earlier_in_the_same_transaction(store: SqlStore) -> None:
    leases = Leases(store, "w1", ttl=0.2)
    assert (await leases.balance("erp", "orders", 1)).keep == {0}
    await asyncio.sleep(0.3)  # run out, then renewed within the settling transaction

    def renew_between_checks(tx: CountingTx) -> tuple[bool, bool]:
        before = leases.holds(tx, "erp", "orders", 0)
        leases._balance(tx, "erp", "orders", 1)
        return before, leases.holds(tx, "erp", "orders", 0)

    before, after = await in_one_transaction(store, renew_between_checks)
    assert (before, after) == (False, True)
