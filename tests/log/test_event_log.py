"""The embedded event log: topics, partitions, validation on append, groups, replay, retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from artery.contracts import Registry
from artery.envelope import Event
from artery.errors import (
    ConfigError,
    Conflict,
    ContractViolation,
    NotFound,
    UnknownContract,
    UnknownTopic,
)
from artery.log import EventLog, Retention, StoreLog, partition_for
from artery.store import SqlStore

ORDER = {
    "type": "object",
    "properties": {
        "order": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "email": {"type": "string", "x-artery-classification": "pii"},
    },
    "required": ["order", "total"],
}


@pytest.fixture
async def log(store: SqlStore, backend: StoreLog) -> AsyncIterator[EventLog]:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    event_log = EventLog(backend, registry)
    await event_log.create_topic("orders", "orders", partitions=4)
    yield event_log


def order(n: int, key: str | None = None, **extra: object) -> Event:
    return Event(
        type="orders",
        source="test",
        data={"order": f"A-{n}", "total": n, **extra},
        partitionkey=key,
    )


async def all_events(log: EventLog, topic: str = "orders") -> list[Event]:
    out = []
    for state in await log.partitions(topic):
        out += await log.read(topic, state.partition, 0, 10_000)
    return out


async def test_append_assigns_consecutive_offsets_per_partition(log: EventLog) -> None:
    stored = await log.append("orders", [order(i, key="c1") for i in range(5)])
    partition = partition_for("c1", 4)
    assert [(e.partition, e.offset) for e in stored] == [(partition, i) for i in range(5)]
    assert [e.data["order"] for e in await log.read("orders", partition, 2)] == [
        "A-2",
        "A-3",
        "A-4",
    ]


async def test_heads_name_where_each_partitions_next_append_goes(log: EventLog) -> None:
    stored = await log.append("orders", [order(i, key="c1") for i in range(5)])
    heads = await log.heads("orders")
    assert heads == {p: (5 if p == stored[0].partition else 0) for p in range(4)}
    assert heads == {s.partition: s.next for s in await log.partitions("orders")}


async def test_same_key_always_lands_in_the_same_partition(log: EventLog) -> None:
    stored = await log.append("orders", [order(i, key=f"c{i % 3}") for i in range(30)])
    by_key: dict[str | None, set[int | None]] = {}
    for event in stored:
        by_key.setdefault(event.partitionkey, set()).add(event.partition)
    assert all(len(parts) == 1 for parts in by_key.values())
    assert partition_for("c1", 4) == partition_for("c1", 4) == stored[1].partition


async def test_stored_event_reads_back_identical(log: EventLog) -> None:
    (stored,) = await log.append("orders", [order(1, key="k")])
    (read,) = await log.read("orders", stored.partition or 0, stored.offset or 0, 1)
    assert read == stored


async def test_invalid_event_rejects_the_whole_batch(log: EventLog) -> None:
    batch = [order(1), order(2), Event(type="orders", source="t", data={"order": 3, "total": -1})]
    with pytest.raises(ContractViolation) as info:
        await log.append("orders", batch)
    pointers = {(v.pointer, v.keyword) for v in info.value.violations}
    assert pointers == {("/order", "type"), ("/total", "minimum")}
    assert await all_events(log) == []
    assert all(s.next == 0 for s in await log.partitions("orders"))


async def test_violation_at_pii_field_does_not_quote_the_value(log: EventLog) -> None:
    with pytest.raises(ContractViolation) as info:
        await log.append("orders", [order(1, email=12345678)])
    assert "12345678" not in str(info.value)
    assert "/email" in str(info.value)


async def test_unknown_topic_and_contract_name_the_fix(log: EventLog) -> None:
    with pytest.raises(UnknownTopic, match="artery topics create"):
        await log.append("nope", [order(1)])
    with pytest.raises(UnknownContract):
        await log.create_topic("t2", "no.such.contract")


async def test_recreating_a_topic_with_other_settings_conflicts(log: EventLog) -> None:
    assert (await log.create_topic("orders", "orders", partitions=4)).partitions == 4
    with pytest.raises(Conflict, match="4 partitions"):
        await log.create_topic("orders", "orders", partitions=8)


async def test_duplicate_idempotency_key_is_stored_once(log: EventLog) -> None:
    first = await log.append(
        "orders",
        [Event(type="orders", source="t", data={"order": "x", "total": 1}, idempotencykey="k-1")],
    )
    again = await log.append(
        "orders",
        [Event(type="orders", source="t", data={"order": "x", "total": 1}, idempotencykey="k-1")],
    )
    assert again[0].id == first[0].id and again[0].offset == first[0].offset
    assert len(await all_events(log)) == 1


async def test_concurrent_duplicates_are_stored_once(log: EventLog) -> None:
    events = [
        Event(type="orders", source="t", data={"order": "x", "total": 1}, idempotencykey="same")
        for _ in range(20)
    ]
    results = await asyncio.gather(*(log.append("orders", [e]) for e in events))
    assert len({r[0].id for r in results}) == 1
    assert len(await all_events(log)) == 1


async def test_a_large_batch_claims_its_keys_once_each(log: EventLog) -> None:
    """Over 500 keys (claimed a statement per 500), repeated inside the batch and across
    batches: each key is stored once, and every repeat answers with the stored event."""

    def keyed(n: int) -> Event:
        return Event(
            type="orders", source="t", data={"order": str(n), "total": n}, idempotencykey=f"k{n}"
        )

    before = await log.append("orders", [keyed(n) for n in range(0, 1300, 100)])
    batch = [keyed(n) for n in range(1200)] + [keyed(n) for n in range(0, 1200, 7)]
    stored = await log.append("orders", batch)
    assert len(stored) == len(batch)
    by_key = {e.idempotencykey: e for e in stored[:1200]}
    assert all(by_key[e.idempotencykey].id == e.id for e in stored[1200:])
    earlier = {e.idempotencykey: e.id for e in before}
    assert all(by_key[k].id == found for k, found in earlier.items() if k in by_key)
    kept = await all_events(log)
    assert len(kept) == 1200 + 1  # k1200 came only before
    assert len({e.id for e in kept}) == len(kept)


async def test_expired_idempotency_key_allows_a_new_event(
    store: SqlStore, backend: StoreLog
) -> None:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    log = EventLog(backend, registry, dedupe_window=0.0)
    await log.create_topic("orders", "orders", partitions=1)

    def make() -> Event:
        return Event(type="orders", source="t", data={"order": "x", "total": 1}, idempotencykey="k")

    await log.append("orders", [make()])
    await log.append("orders", [make()])
    assert len(await all_events(log)) == 2


async def test_group_starts_at_earliest_or_latest(log: EventLog) -> None:
    await log.append("orders", [order(i, key="k") for i in range(3)])
    await log.join("from-start", "orders", "earliest")
    await log.join("from-end", "orders", "latest")
    assert sum((await log.lag("from-start", "orders")).values()) == 3
    assert sum((await log.lag("from-end", "orders")).values()) == 0


async def test_commit_moves_lag_and_groups_are_independent(log: EventLog) -> None:
    stored = await log.append("orders", [order(i, key="k") for i in range(4)])
    partition = stored[0].partition or 0
    for group in ("a", "b"):
        await log.join(group, "orders")
    await log.commit("a", "orders", {partition: 3})
    assert (await log.lag("a", "orders"))[partition] == 1
    assert (await log.lag("b", "orders"))[partition] == 4


async def test_reset_to_offset_replays_one_group_only(log: EventLog) -> None:
    stored = await log.append("orders", [order(i, key="k") for i in range(5)])
    partition = stored[0].partition or 0
    for group in ("a", "b"):
        await log.join(group, "orders")
        await log.commit(group, "orders", {partition: 5})
    offsets = await log.reset("a", "orders", to_offset=2)
    assert offsets[partition] == 2
    assert (await log.lag("a", "orders"))[partition] == 3
    assert (await log.lag("b", "orders"))[partition] == 0


async def test_reset_to_time_finds_first_event_at_or_after(log: EventLog) -> None:
    await log.append("orders", [order(0, key="k")])
    await asyncio.sleep(0.05)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.05)
    stored = await log.append("orders", [order(1, key="k"), order(2, key="k")])
    await log.join("g", "orders")
    offsets = await log.reset("g", "orders", to_time=middle)
    assert offsets[stored[0].partition or 0] == 1
    future = await log.reset("g", "orders", to_time=middle + timedelta(days=1))
    assert future[stored[0].partition or 0] == 3


async def test_retention_by_count_keeps_the_newest(store: SqlStore, backend: StoreLog) -> None:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    log = EventLog(backend, registry)
    await log.create_topic("orders", "orders", partitions=1, retention=Retention(max_count=3))
    await log.append("orders", [order(i) for i in range(10)])
    assert await log.trim("orders") == 7
    assert [e.offset for e in await log.read("orders", 0, 0)] == [7, 8, 9]
    (state,) = await log.partitions("orders")
    assert (state.low, state.next) == (7, 10)


async def test_retention_by_age_drops_old_events(store: SqlStore, backend: StoreLog) -> None:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    log = EventLog(backend, registry)
    await log.create_topic("orders", "orders", partitions=1, retention=Retention(max_age=0.2))
    await log.append("orders", [order(1)])
    assert await log.trim("orders") == 0
    await asyncio.sleep(0.3)
    await log.append("orders", [order(2)])
    assert await log.trim("orders") == 1
    assert [e.data["order"] for e in await log.read("orders", 0, 0)] == ["A-2"]


async def test_reset_refuses_a_group_without_position_unless_create(log: EventLog) -> None:
    await log.append("orders", [order(1, key="k")])
    await log.join("billing", "orders")
    with pytest.raises(NotFound, match="group 'biling' has no position"):
        await log.reset("biling", "orders", to="earliest")
    assert {p.group for p in await log.positions()} == {"billing"}
    await log.reset("audit", "orders", to="latest", create=True)
    assert {p.group for p in await log.positions()} == {"audit", "billing"}


@pytest.mark.parametrize("retention", [{"max_count": 0}, {"max_count": -5}, {"max_age": 0.0}])
def test_retention_that_would_delete_every_event_is_refused(retention: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="would delete every event"):
        Retention(**retention)  # type: ignore[arg-type]
