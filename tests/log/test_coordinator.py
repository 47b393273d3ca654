"""The embedded log's group coordinator: one owner per partition, and a fence that a
worker which lost its partition cannot pass, neither to move the group's position nor to
settle an event in the caller's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

import pytest

from artery.contracts import Registry
from artery.envelope import Event
from artery.log import EventLog, GroupCoordinator, StoreLog
from artery.log.coordinator import StoreCoordinator
from artery.store import SqlStore
from artery.store.engine import SqlTx

T = TypeVar("T")


@pytest.fixture
async def log(store: SqlStore, backend: StoreLog) -> AsyncIterator[EventLog]:
    registry = Registry(store)
    await registry.register("orders", {"type": "object"})
    event_log = EventLog(backend, registry)
    await event_log.create_topic("orders", "orders", partitions=1)
    yield event_log


async def test_a_free_partition_is_taken_by_one_worker_only(store: SqlStore) -> None:
    first, second = StoreCoordinator(store, "first"), StoreCoordinator(store, "second")
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
    leases = StoreCoordinator(store, "w1")
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
    old = StoreCoordinator(store, "old", ttl=0.2)
    new = StoreCoordinator(store, "new", ttl=10)
    assert (await old.balance("erp", "orders", 1)).keep == {0}
    assert await in_one_transaction(store, lambda tx: old.holds(tx, "erp", "orders", 0))
    await asyncio.sleep(0.3)  # the old owner's lease runs out; the new one takes over
    assert (await new.balance("erp", "orders", 1)).keep == {0}
    lost = await in_one_transaction(store, lambda tx: old.holds(tx, "erp", "orders", 0))
    assert not lost, "a worker that lost a partition settles nothing of it"


async def test_fence_sees_a_renewal_made_earlier_in_the_same_transaction(store: SqlStore) -> None:
    leases = StoreCoordinator(store, "w1", ttl=0.2)
    assert (await leases.balance("erp", "orders", 1)).keep == {0}
    await asyncio.sleep(0.3)  # run out, then renewed within the settling transaction

    def renew_between_checks(tx: CountingTx) -> tuple[bool, bool]:
        before = leases.holds(tx, "erp", "orders", 0)
        leases._balance(tx, "erp", "orders", 1)
        return before, leases.holds(tx, "erp", "orders", 0)

    before, after = await in_one_transaction(store, renew_between_checks)
    assert (before, after) == (False, True)


async def position(log: EventLog) -> int:
    (found,) = [p.committed for p in await log.positions("erp") if p.topic == "orders"]
    return found


async def test_worker_whose_partition_was_taken_over_can_neither_commit_nor_settle(
    log: EventLog, store: SqlStore
) -> None:
    await log.append("orders", [Event(type="orders", source="test", data={}) for _ in range(3)])
    await log.join("erp", "orders")
    old: GroupCoordinator = log.coordinator("old", ttl=0.2)
    new: GroupCoordinator = log.coordinator("new", ttl=10)
    await old.heartbeat()
    assert (await old.balance("erp", "orders", 1)).keep == {0}
    assert await old.commit("erp", "orders", {0: (0, 1)}) == (set(), set())
    await asyncio.sleep(0.3)  # the old owner's lease runs out; the new one takes over
    await new.heartbeat()
    assert (await new.balance("erp", "orders", 1)).keep == {0}

    lost, moved = await old.commit("erp", "orders", {0: (1, 3)})
    assert (lost, moved) == ({0}, set()), "the old owner's commit is refused as lost"
    assert await position(log) == 1, "and leaves the group's position where it was"
    assert not await store.write(lambda tx: old.holds(tx, "erp", "orders", 0))
    assert await store.write(lambda tx: new.holds(tx, "erp", "orders", 0))
    assert await new.commit("erp", "orders", {0: (1, 2)}) == (set(), set())
    assert await position(log) == 2


async def test_commit_leaves_a_position_moved_by_someone_else(log: EventLog) -> None:
    await log.append("orders", [Event(type="orders", source="test", data={}) for _ in range(3)])
    await log.join("erp", "orders")
    owner = log.coordinator("owner", ttl=10)
    assert (await owner.balance("erp", "orders", 1)).keep == {0}
    await log.reset("erp", "orders", to="latest")  # a replay or skip, while we deliver
    assert await owner.commit("erp", "orders", {0: (0, 1)}) == (set(), {0})
    assert await position(log) == 3, "the reset stands"


async def test_owners_shows_which_worker_serves_which_partition_while_leases_live(
    log: EventLog,
) -> None:
    first: GroupCoordinator = log.coordinator("first", 10.0)
    second: GroupCoordinator = log.coordinator("second", 10.0)
    for coordinator in (first, second):
        await coordinator.heartbeat()
    await first.balance("erp", "orders", 4)  # the second is alive: first takes its share
    await second.balance("erp", "orders", 4)
    owners = await first.owners("erp", "orders")
    assert sorted(owners) == [0, 1, 2, 3]
    assert sorted(owners.values()) == ["first", "first", "second", "second"]
    await second.leave()
    assert set((await first.owners("erp", "orders")).values()) == {"first"}
    assert await first.owners("other-group", "orders") == {}
