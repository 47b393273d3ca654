"""The embedded log: topics, partitions, offsets and groups as tables in the ``Store``.

Offsets are handed out by ``UPDATE partitions SET next_offset = next_offset + n``: the row
lock serializes appenders to one partition across processes on PostgreSQL, and SQLite has a
single writer anyway. Idempotency keys are claimed with ``INSERT ... ON CONFLICT DO
NOTHING`` before offsets are taken, so a concurrent duplicate waits for the first writer
and then sees its key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from artery.clock import now_us
from artery.envelope import Event
from artery.errors import Conflict
from artery.log.batching import AppendBatcher
from artery.log.coordinator import StoreCoordinator
from artery.log.protocol import GroupPosition, PartitionState, Record, Retention, Topic
from artery.store import Store, Tx

log = logging.getLogger("artery.retention")
APPENDED = "artery_appended"  # the notification channel of appends (PostgreSQL)


class StoreLog:
    """``Log`` over a ``Store``; every method is one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._appends = AppendBatcher(store, _append)
        self._announcing: set[str] = set()  # topics appended to this loop turn

    async def create_topic(self, topic: Topic) -> Topic:
        return await self._store.write(lambda tx: _create_topic(tx, topic))

    async def topic(self, name: str) -> Topic | None:
        return await self._store.read(lambda tx: _load_topic(tx, name))

    async def topics(self) -> list[Topic]:
        rows = await self._store.read(
            lambda tx: tx.execute(f"SELECT {_TOPIC_COLUMNS} FROM topics ORDER BY name")
        )
        return [_row_to_topic(r) for r in rows]

    async def append(
        self, topic: Topic, records: Sequence[Record], *, dedupe_window: float
    ) -> list[Event]:
        stored = await self._appends.append(topic.name, records, int(dedupe_window * 1e6))
        if not self._announcing:  # appends ending in one loop turn share one announcement
            asyncio.get_running_loop().call_soon(self._announce)
        self._announcing.add(topic.name)
        return stored

    def _announce(self) -> None:
        topics, self._announcing = self._announcing, set()
        for topic in topics:
            self._store.dialect.announce(APPENDED, topic)

    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Event]:
        rows = await self._store.read(
            lambda tx: tx.execute(
                "SELECT partition, event_offset, body FROM events WHERE topic = ?"
                " AND partition = ? AND event_offset >= ? ORDER BY event_offset LIMIT ?",
                (topic, partition, offset, limit),
            )
        )
        return [Event.from_stored(r[2], topic, r[0], r[1]) for r in rows]

    async def partitions(self, topic: str) -> list[PartitionState]:
        return await self._store.read(lambda tx: _partition_states(tx, topic))

    async def heads(self, topic: str) -> dict[int, int]:
        rows = await self._store.read(
            lambda tx: tx.execute(
                "SELECT partition, next_offset FROM partitions WHERE topic = ?", (topic,)
            )
        )
        return {int(p): int(head) for p, head in rows}

    async def offset_at(self, topic: str, partition: int, at_us: int) -> int:
        def op(tx: Tx) -> int:
            row = tx.one(
                "SELECT MIN(event_offset) FROM events WHERE topic = ? AND partition = ?"
                " AND appended_at >= ?",
                (topic, partition, at_us),
            )
            if row and row[0] is not None:
                return int(row[0])
            head = tx.one(
                "SELECT next_offset FROM partitions WHERE topic = ? AND partition = ?",
                (topic, partition),
            )
            return int(head[0]) if head else 0

        return await self._store.read(op)

    async def join(self, group: str, topic: Topic, start: str) -> None:
        column = "low" if start == "earliest" else "next"

        def op(tx: Tx) -> None:
            stamp = now_us()
            rows = [
                (group, topic.name, s.partition, getattr(s, column), stamp)
                for s in _partition_states(tx, topic.name)
            ]
            tx.executemany(
                "INSERT INTO group_offsets (group_name, topic, partition, next_offset, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_name, topic, partition) DO NOTHING",
                rows,
            )

        await self._store.write(op)

    async def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        stamp = now_us()
        rows = [(group, topic, p, o, stamp) for p, o in offsets.items()]
        await self._store.write(
            lambda tx: tx.executemany(
                "INSERT INTO group_offsets (group_name, topic, partition, next_offset, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_name, topic, partition)"
                " DO UPDATE SET next_offset = excluded.next_offset,"
                " updated_at = excluded.updated_at",
                rows,
            )
        )

    async def positions(self, group: str | None = None) -> list[GroupPosition]:
        def op(tx: Tx) -> list[GroupPosition]:
            sql = (
                "SELECT g.group_name, g.topic, g.partition, g.next_offset, p.next_offset"
                " FROM group_offsets g JOIN partitions p"
                " ON p.topic = g.topic AND p.partition = g.partition"
            )
            params: tuple[Any, ...] = ()
            if group is not None:
                sql += " WHERE g.group_name = ?"
                params = (group,)
            rows = tx.execute(sql + " ORDER BY g.group_name, g.topic, g.partition", params)
            return [GroupPosition(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]

        return await self._store.read(op)

    async def trim(self, topic: Topic, now: int) -> int:
        removed, unread = await self._store.write(lambda tx: _trim(tx, topic, now))
        report_unread(topic.name, unread)
        return removed

    async def close(self) -> None:
        """Nothing of its own to release: the store is closed by whoever opened it."""

    def appends(self) -> AsyncIterator[str] | None:
        """Every append is told at commit: PostgreSQL's LISTEN/NOTIFY, SQLite's datagrams."""
        return self._store.dialect.listen(APPENDED)

    def coordinator(self, worker_id: str, ttl: float) -> StoreCoordinator:
        return StoreCoordinator(self._store, worker_id, ttl)

    async def dropped(self) -> dict[tuple[str, str], int]:
        """Events retention dropped before each group read them, by (group, topic)."""
        rows = await self._store.read(
            lambda tx: tx.execute("SELECT group_name, topic, dropped FROM group_dropped")
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}


def report_unread(topic: str, unread: Mapping[str, int]) -> None:
    """Say which groups lost events unread to retention (``drop_unconsumed``)."""
    for group, count in sorted(unread.items()):
        if count:
            log.warning(
                "retention dropped %d event(s) of %s that group %s had not read"
                " (the topic sets drop_unconsumed)",
                count,
                topic,
                group,
            )


_TOPIC_COLUMNS = (
    "name, subject, partitions, retention_ms, retention_count, retention_drop_unconsumed"
)


def _row_to_topic(row: Any) -> Topic:
    age = None if row[3] is None else row[3] / 1000
    count = None if row[4] is None else int(row[4])
    return Topic(row[0], row[1], int(row[2]), Retention(age, count, bool(row[5])))


def _load_topic(tx: Tx, name: str) -> Topic | None:
    row = tx.one(f"SELECT {_TOPIC_COLUMNS} FROM topics WHERE name = ?", (name,))
    return None if row is None else _row_to_topic(row)


def _create_topic(tx: Tx, topic: Topic) -> Topic:
    """Create ``topic``, or return the same one as it exists. Processes starting together
    on one store (a gateway and a worker) race here: the insert that loses waits for the
    winner and does nothing, then both compare what was stored."""
    retention_ms = None if topic.retention.max_age is None else int(topic.retention.max_age * 1000)
    created = tx.execute(
        f"INSERT INTO topics ({_TOPIC_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO NOTHING RETURNING name",
        (
            topic.name,
            topic.subject,
            topic.partitions,
            retention_ms,
            topic.retention.max_count,
            int(topic.retention.drop_unconsumed),
            now_us(),
        ),
    )
    if created:
        tx.executemany(
            "INSERT INTO partitions (topic, partition, next_offset) VALUES (?, ?, 0)",
            [(topic.name, p) for p in range(topic.partitions)],
        )
        return topic
    existing = _load_topic(tx, topic.name)
    assert existing is not None  # the conflicting row is committed and never deleted here
    if (existing.subject, existing.partitions) != (topic.subject, topic.partitions):
        raise Conflict(
            f"topic {topic.name!r} exists with contract {existing.subject!r} and"
            f" {existing.partitions} partitions",
            fix="use the existing settings or create a topic with another name",
        )
    return existing


def _append(
    tx: Tx, topic: str, records: Sequence[Record], stamp: int, window_us: int
) -> list[Event]:
    placed: list[Event | None] = [None] * len(records)
    fresh: list[int] = []
    firsts: dict[str, int] = {}  # each key's first record; a repeat is resolved below
    for index, record in enumerate(records):
        key = record.event.idempotencykey
        if key is None:
            fresh.append(index)
        elif key not in firsts:
            firsts[key] = index
    won = _claim_keys(tx, topic, list(firsts), stamp, window_us)
    claimed: dict[str, int] = {}
    for key, index in firsts.items():
        if key in won:
            claimed[key] = index
            fresh.append(index)
        else:
            placed[index] = _stored_for_key(tx, topic, key)
    fresh.sort()
    by_partition: dict[int, list[int]] = {}
    for index in fresh:
        by_partition.setdefault(records[index].partition, []).append(index)
    rows = []
    for partition, indexes in sorted(by_partition.items()):
        head = tx.one(
            "UPDATE partitions SET next_offset = next_offset + ? WHERE topic = ? AND partition = ?"
            " RETURNING next_offset",
            (len(indexes), topic, partition),
        )
        assert head is not None, f"topic {topic} has no partition {partition}"
        first = int(head[0]) - len(indexes)
        for offset, index in enumerate(indexes, start=first):
            record = records[index]
            placed[index] = record.event.placed(topic, partition, offset)
            rows.append(
                (
                    topic,
                    partition,
                    offset,
                    record.event.id,
                    record.contract_version,
                    stamp,
                    record.body,
                )
            )
    tx.executemany(
        "INSERT INTO events (topic, partition, event_offset, id, contract_version, appended_at,"
        " body) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if rows:  # delivered at commit; repeats within a transaction are sent once
        tx.dialect.notify(tx, APPENDED, topic)
    if claimed:
        owners = [(placed[i], key) for key, i in claimed.items()]
        tx.executemany(
            "UPDATE idempotency_keys SET partition = ?, event_offset = ?"
            " WHERE topic = ? AND key = ?",
            [(e.partition, e.offset, topic, key) for e, key in owners if e is not None],
        )
    for index, record in enumerate(records):
        if placed[index] is None:
            placed[index] = placed[firsts[record.event.idempotencykey or ""]]
    return [event for event in placed if event is not None]


_CLAIMS_PER_STATEMENT = 500  # 3 parameters each, well under SQLite's 32,766


def _claim_keys(tx: Tx, topic: str, keys: list[str], stamp: int, window_us: int) -> set[str]:
    """Take the keys for this append, one statement per 500 (a statement per key was the
    writer's busiest line under webhook load); those with a live claim (duplicates) are
    not returned."""
    won: set[str] = set()
    for start in range(0, len(keys), _CLAIMS_PER_STATEMENT):
        chunk = keys[start : start + _CLAIMS_PER_STATEMENT]
        rows = tx.execute(
            "INSERT INTO idempotency_keys (topic, key, partition, event_offset, expires_at)"
            f" VALUES {', '.join(['(?, ?, -1, -1, ?)'] * len(chunk))}"
            " ON CONFLICT (topic, key) DO UPDATE"
            " SET partition = -1, event_offset = -1, expires_at = excluded.expires_at"
            " WHERE idempotency_keys.expires_at <= ? RETURNING key",
            [*(p for key in chunk for p in (topic, key, stamp + window_us)), stamp],
        )
        won.update(row[0] for row in rows)
    return won


def _stored_for_key(tx: Tx, topic: str, key: str) -> Event:
    row = tx.one(
        "SELECT e.partition, e.event_offset, e.body FROM idempotency_keys k JOIN events e"
        " ON e.topic = k.topic AND e.partition = k.partition AND e.event_offset = k.event_offset"
        " WHERE k.topic = ? AND k.key = ?",
        (topic, key),
    )
    if row is None:
        raise Conflict(
            f"idempotency key on topic {topic!r} is claimed but its event is gone (trimmed)",
            fix="use a new idempotency key",
        )
    return Event.from_stored(row[2], topic, row[0], row[1])


def _partition_states(tx: Tx, topic: str) -> list[PartitionState]:
    rows = tx.execute(
        "SELECT p.partition, p.next_offset, (SELECT MIN(e.event_offset) FROM events e"
        " WHERE e.topic = p.topic AND e.partition = p.partition)"
        " FROM partitions p WHERE p.topic = ? ORDER BY p.partition",
        (topic,),
    )
    return [
        PartitionState(int(r[0]), int(r[2]) if r[2] is not None else int(r[1]), int(r[1]))
        for r in rows
    ]


def _trim(tx: Tx, topic: Topic, now: int) -> tuple[int, dict[str, int]]:
    """Delete what retention lets go; returns how many events went and, per group, how
    many of them it had not read. Unless the topic drops unconsumed events, nothing at or
    after a group's position goes (so that count stays zero)."""
    retention = topic.retention
    positions: dict[int, dict[str, int]] = {}
    for group, partition, committed in tx.execute(
        "SELECT group_name, partition, next_offset FROM group_offsets WHERE topic = ?",
        (topic.name,),
    ):
        positions.setdefault(int(partition), {})[group] = int(committed)
    age_cutoff = None if retention.max_age is None else now - int(retention.max_age * 1e6)
    removed, unread = 0, dict[str, int]()
    for state in _partition_states(tx, topic.name):
        lets_go, params = [], [topic.name, state.partition]
        if retention.max_count is not None:
            lets_go.append("event_offset < ?")
            params.append(state.next - retention.max_count)
        if age_cutoff is not None:
            lets_go.append("appended_at < ?")
            params.append(age_cutoff)
        if not lets_go:
            continue
        sql = f"DELETE FROM events WHERE topic = ? AND partition = ? AND ({' OR '.join(lets_go)})"
        groups = positions.get(state.partition, {})
        if groups and not retention.drop_unconsumed:
            sql += " AND event_offset < ?"  # never at or past a group's position
            params.append(min(groups.values()))
        gone = [int(r[0]) for r in tx.execute(sql + " RETURNING event_offset", params)]
        removed += len(gone)
        for group, committed in groups.items():
            unread[group] = unread.get(group, 0) + sum(1 for o in gone if o >= committed)
    unread = {g: n for g, n in unread.items() if n}
    after_trim(tx, topic.name, now, unread)
    return removed, unread


def after_trim(tx: Tx, topic: str, now: int, unread: Mapping[str, int]) -> None:
    """Count what each group lost unread, and forget the topic's expired idempotency keys
    (either log backend, once its events are trimmed)."""
    dropped = [(group, topic, n, now) for group, n in unread.items() if n]
    if dropped:
        tx.executemany(
            "INSERT INTO group_dropped (group_name, topic, dropped, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (group_name, topic) DO UPDATE"
            " SET dropped = group_dropped.dropped + excluded.dropped,"
            " updated_at = excluded.updated_at",
            dropped,
        )
    tx.execute("DELETE FROM idempotency_keys WHERE topic = ? AND expires_at <= ?", (topic, now))
