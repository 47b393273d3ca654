"""The event log on NATS JetStream: events in streams, everything else in the ``Store``.

Mapping. Each partition of a topic is a stream of its own (``<prefix>_<topic>_<p>``, one
subject, file storage): a JetStream sequence number is per stream, so one stream per
partition keeps offsets dense and per partition (offset = sequence - 1), and replay by
offset and lag per group mean what they mean on the embedded log. A stream per topic would
give one sequence shared by its partitions, with gaps in each.

What stays in the Store (PostgreSQL when several machines share the work): topics and
their contracts, consumer-group positions, partition leases and worker heartbeats (the
``StoreCoordinator``, unchanged: its fence must share the delivery transaction that writes
retries, dead letters and completions; ``protocol.GroupCoordinator`` says why), retention's
unread-drop counts, and idempotency keys. Keys are claimed in the Store before the events
are published, so de-duplication spans the whole topic and the configured window however
long (JetStream's own de-duplication is per stream and held in the server's memory); each
message also carries ``Nats-Msg-Id`` = the event's id, so a publish retried after a lost
acknowledgement is stored once.

Batches. JetStream (2.9/2.10) cannot append several messages atomically. ``append`` here
publishes a batch's messages pipelined, in order per partition, and returns once all are
acknowledged; if one fails, it raises ``StoreUnavailable`` saying how many were stored, and
releases the idempotency claims of those that were not. Publishing the same events again
(same ids) then stores only the missing ones. So a batch is all-or-some, never twice: not
the all-or-nothing of the embedded log, and ``publish_many`` says so.

Retention. ``trim`` purges each partition's stream below the cut the embedded log would
make (age, count, and never past a group's position unless ``drop_unconsumed``), and counts
what each group lost unread. Not stream limits (``max_age``, ``max_msgs``): the server
would then drop a group's unread events between sweeps without anyone counting them, the
very loss ``drop_unconsumed=False`` exists to prevent (the retention tests caught it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nats
from nats.errors import Error as NatsError
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from artery.clock import now_us
from artery.envelope import Event
from artery.errors import ConfigError, Conflict, StoreUnavailable
from artery.log import embedded
from artery.log.embedded import StoreLog
from artery.log.protocol import GroupPosition, PartitionState, Record, Topic
from artery.store import Store, Tx

APPENDED_AT = "Artery-Appended-At"  # microseconds since the epoch, for offset_at and age
TIMEOUT = 5.0  # seconds a JetStream request may take before the call fails
# JetStream remembers message ids this long (seconds, in the server's memory): a publish
# retried within it after a failure is stored once; topic-wide keys are in the Store.
DUPLICATE_WINDOW = 300.0
FETCH_FROM = 16  # reads of fewer messages use direct gets: no consumer to create
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
log = logging.getLogger("artery.log")


def stream_name(prefix: str, topic: str, partition: int) -> str:
    """A stream name for a topic's partition: stream names allow no ``.``, ``*``, ``>`` or
    spaces, so the topic is escaped, and a CRC of the real name keeps escaped names apart
    (``a.b`` and ``a_b``)."""
    safe = _UNSAFE.sub("_", topic)
    return f"{prefix}_{safe}_{zlib.crc32(topic.encode()):08x}_{partition}"


async def connect(url: str) -> tuple[Any, str]:
    """A NATS connection for ``url`` (``nats://host:4222[?prefix=NAME]``) and the stream
    prefix. Reconnects forever in the background: a restarted server is ridden out, and
    calls made meanwhile fail with ``StoreUnavailable`` after ``TIMEOUT``."""
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls"):
        raise ConfigError(f"log URL {url!r} is not nats://", fix="e.g. nats://127.0.0.1:4222")
    prefix = parse_qs(parts.query).get("prefix", ["ARTERY"])[0]
    if not prefix or _UNSAFE.search(prefix):
        raise ConfigError(f"stream prefix {prefix!r} is not usable", fix="use letters and _")
    server = f"{parts.scheme}://{parts.netloc}"
    try:  # the client retries a refused first connection forever: bound it here
        connection = await asyncio.wait_for(
            nats.connect(
                server,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=_connection_error,
                disconnected_cb=_disconnected,
                reconnected_cb=_reconnected,
            ),
            timeout=5,
        )
    except (OSError, NatsError, TimeoutError) as exc:
        raise StoreUnavailable(
            f"cannot reach NATS at {server}: {type(exc).__name__}",
            fix="start nats-server with JetStream (-js), or correct the log URL",
        ) from None
    return connection, prefix


async def _connection_error(exc: Exception) -> None:
    log.warning("NATS: %s: %s", type(exc).__name__, exc)


async def _disconnected() -> None:
    log.info("NATS: disconnected; reconnecting unless closing (calls meanwhile wait or fail)")


async def _reconnected() -> None:
    log.warning("NATS: reconnected")


class JetStreamLog(StoreLog):
    """``Log`` with events in JetStream; topics, positions, leases and keys in the Store."""

    def __init__(self, store: Store, connection: Any, prefix: str = "ARTERY") -> None:
        super().__init__(store)
        self.connection = connection
        self.js: JetStreamContext = connection.jetstream(timeout=TIMEOUT)
        self.prefix = prefix
        self._partitions: dict[str, int] = {}
        self._readers: dict[str, _Reader] = {}

    async def close(self) -> None:
        for reader in self._readers.values():
            await reader.drop()
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await self.connection.drain()

    @property
    def _appended_subject(self) -> str:
        return f"{self.prefix}.appended"

    async def _announced(self) -> AsyncIterator[str]:
        subscription = await self.connection.subscribe(self._appended_subject)
        try:
            yield ""  # subscribed
            async for message in subscription.messages:
                yield message.data.decode()
        finally:
            with contextlib.suppress(NatsError, OSError):
                await subscription.unsubscribe()

    def appends(self) -> AsyncIterator[str] | None:
        return self._announced()

    def stream(self, topic: str, partition: int) -> str:
        return stream_name(self.prefix, topic, partition)

    # -- topics ----------------------------------------------------------------------

    async def create_topic(self, topic: Topic) -> Topic:
        created = await super().create_topic(topic)
        for partition in range(created.partitions):
            await self._ensure_stream(created, partition)
        return created

    async def _ensure_stream(self, topic: Topic, partition: int) -> None:
        name = self.stream(topic.name, partition)
        config = StreamConfig(
            name=name,
            subjects=[name],
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW,
            allow_direct=True,
        )
        async with _unavailable("create stream " + name):
            try:
                await self.js.stream_info(name)
            except NotFoundError:
                await self.js.add_stream(config)

    # -- appending -------------------------------------------------------------------

    async def append(
        self, topic: Topic, records: Sequence[Record], *, dedupe_window: float
    ) -> list[Event]:
        stamp = now_us()
        window = int(dedupe_window * 1e6)
        claims = await self._store.write(lambda tx: _claim(tx, topic.name, records, stamp, window))
        placed: dict[int, Event] = {}
        sent = [(records[i], *claims.targets[i]) for i in claims.fresh]
        for index, (partition, seq, duplicate) in zip(
            claims.fresh, await self._publish(topic.name, sent, stamp), strict=True
        ):
            if duplicate:  # its key's first publish was stored after all: that event
                placed[index] = await self._at(topic.name, partition, seq - 1)
            else:
                placed[index] = records[index].event.placed(topic.name, partition, seq - 1)
        await self._store.write(lambda tx: _own_keys(tx, topic.name, records, placed))
        if claims.fresh:  # wake the consumers of other processes (core NATS, not stored)
            with contextlib.suppress(NatsError, OSError):
                await self.connection.publish(self._appended_subject, topic.name.encode())
        for index, (partition, offset) in claims.stored.items():
            placed[index] = await self._at(topic.name, partition, offset)
        for index, first in claims.same_as.items():
            placed[index] = placed[first]
        return [placed[i] for i in range(len(records))]

    async def _publish(
        self, topic: str, sent: Sequence[tuple[Record, int, str]], stamp: int
    ) -> list[tuple[int, int, bool]]:
        """Publish pipelined, in order: ``[(partition, sequence, duplicate)]`` once every
        message is acknowledged, or ``StoreUnavailable`` saying how many were."""
        sends = [
            self.js.publish(
                self.stream(topic, partition),
                record.body,
                headers={APPENDED_AT: str(stamp), "Nats-Msg-Id": message_id},
            )
            for record, partition, message_id in sent
        ]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise StoreUnavailable(
                f"JetStream stored {len(outcomes) - len(failed)} of {len(sent)} event(s) of"
                f" {topic}: {type(failed[0]).__name__}",
                fix="publish the same events (or idempotency keys) again: what was stored"
                " is not stored twice",
            )
        acks = [o for o in outcomes if not isinstance(o, BaseException)]
        return [
            (partition, ack.seq, bool(ack.duplicate))
            for (_, partition, _), ack in zip(sent, acks, strict=True)
        ]

    async def _at(self, topic: str, partition: int, offset: int) -> Event:
        """The event stored at ``offset`` (an idempotency key's first event)."""
        found = await self.read(topic, partition, offset, 1)
        if not found or found[0].offset != offset:
            raise Conflict(
                f"idempotency key on topic {topic!r} is claimed but its event is gone (trimmed)",
                fix="use a new idempotency key",
            )
        return found[0]

    # -- reading ---------------------------------------------------------------------

    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Event]:
        name = self.stream(topic, partition)
        async with _unavailable("read " + name):
            try:
                state = (await self.js.stream_info(name)).state
            except NotFoundError:
                return []
        first = max(offset + 1, state.first_seq or 1)
        last = min(state.last_seq, first + limit - 1)
        if last < first:
            return []
        async with _unavailable("read " + name):
            if last - first + 1 < FETCH_FROM:
                found = await asyncio.gather(*(self._get(name, s) for s in range(first, last + 1)))
                stored = [(m.seq, m.data) for m in found if m is not None]
            else:
                stored = await self._fetch(name, first, last - first + 1)
        return [Event.from_stored(data, topic, partition, seq - 1) for seq, data in stored]

    async def _fetch(self, stream: str, first: int, count: int) -> list[tuple[int, bytes]]:
        """``count`` messages from ``first`` on, through this process's reader of the
        stream: an ephemeral pull consumer that stays where the last read ended, so a
        consumer reading on costs one fetch per batch (a direct get per message read
        ~22,000 events/s here). A read elsewhere in the stream moves the reader."""
        reader = self._readers.setdefault(stream, _Reader())
        async with reader.lock:
            if reader.subscription is None or reader.next != first:
                await reader.drop()
                config = ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=first,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=60.0,  # the server forgets an idle reader
                    mem_storage=True,
                )
                reader.subscription = await self.js.pull_subscribe(
                    stream, stream=stream, config=config
                )
            try:
                messages = await reader.subscription.fetch(count, timeout=TIMEOUT)
            except BaseException:
                await reader.drop()
                raise
            found = [(m.metadata.sequence.stream, m.data) for m in messages]
            reader.next = found[-1][0] + 1 if found else first
            return found

    async def _get(self, stream: str, seq: int) -> Any:
        try:
            return await self.js.get_msg(stream, seq, direct=True)
        except NotFoundError:
            return None  # purged by retention meanwhile

    async def _states(self, topic: str) -> dict[int, Any]:
        count = self._partitions.get(topic)
        if count is None:  # a topic's partitions never change: asked once
            stored = await self.topic(topic)
            if stored is None:
                return {}
            count = self._partitions[topic] = stored.partitions
        names = [self.stream(topic, p) for p in range(count)]
        async with _unavailable("look up " + topic):
            infos = await asyncio.gather(*(self.js.stream_info(n) for n in names))
        return {p: info.state for p, info in enumerate(infos)}

    async def partitions(self, topic: str) -> list[PartitionState]:
        states = await self._states(topic)
        return [
            PartitionState(p, (s.first_seq - 1) if s.messages else s.last_seq, s.last_seq)
            for p, s in sorted(states.items())
        ]

    async def heads(self, topic: str) -> dict[int, int]:
        return {p: s.last_seq for p, s in (await self._states(topic)).items()}

    async def offset_at(self, topic: str, partition: int, at_us: int) -> int:
        """The first offset appended at or after ``at_us``: a binary search over the
        stream's messages by their ``Artery-Appended-At`` header."""
        name = self.stream(topic, partition)
        async with _unavailable("search " + name):
            state = (await self.js.stream_info(name)).state
            low, high = max(state.first_seq, 1), state.last_seq + 1
            while low < high:
                middle = (low + high) // 2
                message = await self._get(name, middle)
                stamp = int((message.headers or {}).get(APPENDED_AT, 0)) if message else 0
                if stamp >= at_us:
                    high = middle
                else:
                    low = middle + 1
        return low - 1

    # -- groups ----------------------------------------------------------------------

    async def join(self, group: str, topic: Topic, start: str) -> None:
        states = await self.partitions(topic.name)
        stamp = now_us()
        rows = [
            (group, topic.name, s.partition, s.low if start == "earliest" else s.next, stamp)
            for s in states
        ]
        await self._store.write(
            lambda tx: tx.executemany(
                "INSERT INTO group_offsets (group_name, topic, partition, next_offset, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_name, topic, partition) DO NOTHING",
                rows,
            )
        )

    async def positions(self, group: str | None = None) -> list[GroupPosition]:
        sql = "SELECT group_name, topic, partition, next_offset FROM group_offsets"
        params: tuple[Any, ...] = ()
        if group is not None:
            sql += " WHERE group_name = ?"
            params = (group,)
        rows = await self._store.read(
            lambda tx: tx.execute(sql + " ORDER BY group_name, topic, partition", params)
        )
        heads: dict[str, dict[int, int]] = {}
        for topic in {r[1] for r in rows}:
            heads[topic] = await self.heads(topic)
        return [
            GroupPosition(g, t, int(p), int(c), heads[t].get(int(p), int(c))) for g, t, p, c in rows
        ]

    # -- retention -------------------------------------------------------------------

    async def trim(self, topic: Topic, now: int) -> int:
        retention = topic.retention
        if retention.max_age is None and retention.max_count is None:
            return 0
        committed = await self._store.read(
            lambda tx: tx.execute(
                "SELECT group_name, partition, next_offset FROM group_offsets WHERE topic = ?",
                (topic.name,),
            )
        )
        removed = 0
        unread: dict[str, int] = {}
        for state in await self.partitions(topic.name):
            cut = state.low
            if retention.max_count is not None:
                cut = max(cut, state.next - retention.max_count)
            if retention.max_age is not None:
                age_cut = now - int(retention.max_age * 1e6)
                cut = max(cut, await self.offset_at(topic.name, state.partition, age_cut))
            groups = {g: int(c) for g, p, c in committed if int(p) == state.partition}
            if groups and not retention.drop_unconsumed:
                cut = min(cut, min(groups.values()))
            if cut <= state.low:
                continue
            async with _unavailable("purge " + topic.name):
                await self.js.purge_stream(self.stream(topic.name, state.partition), seq=cut + 1)
            removed += cut - state.low
            for group, position in groups.items():
                unread[group] = unread.get(group, 0) + max(0, cut - max(position, state.low))
        await self._store.write(lambda tx: embedded.after_trim(tx, topic.name, now, unread))
        embedded.report_unread(topic.name, unread)
        return removed


@contextlib.asynccontextmanager
async def _unavailable(what: str) -> AsyncIterator[None]:
    """JetStream unreachable (a restart, a partition): the clear error callers handle."""
    try:
        yield
    except (NatsError, TimeoutError, OSError) as exc:
        if isinstance(exc, NotFoundError):
            raise
        raise StoreUnavailable(
            f"JetStream could not {what}: {type(exc).__name__}",
            fix="check nats-server; the call may be retried once it is back",
        ) from None


class _Reader:
    """A stream's pull consumer in this process, and where it stands."""

    def __init__(self) -> None:
        self.subscription: Any = None
        self.next = 0
        self.lock = asyncio.Lock()

    async def drop(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(NatsError, OSError, TimeoutError):
                await self.subscription.unsubscribe()
            self.subscription = None


@dataclass
class _Claims:
    fresh: list[int]  # records to publish
    targets: dict[int, tuple[int, str]]  # each one's partition and Nats-Msg-Id
    stored: dict[int, tuple[int, int]]  # a key stored earlier: where
    same_as: dict[int, int]  # a key repeated within the batch: its first record


def _claim(tx: Tx, topic: str, records: Sequence[Record], stamp: int, window: int) -> _Claims:
    """Claim the batch's idempotency keys in the Store (the embedded log's statement), so
    de-duplication spans the topic and the whole window.

    A keyed event's message id is its key and its claim's expiry, sent to the partition
    its claim names: a concurrent repeat, or a publish retried after a failure (the claim
    pending, its offset unknown), sends the same id to the same stream, and JetStream
    answers with the first message if that was stored; a key claimed anew after its window
    gets a new id. An event without a key is sent under its own id
    (a batch published again is stored once)."""
    claims = _Claims([], {}, {}, {})
    firsts: dict[str, int] = {}
    for index, record in enumerate(records):
        key = record.event.idempotencykey
        if key is None:
            claims.fresh.append(index)
            claims.targets[index] = (record.partition, record.event.id)
        elif key in firsts:
            claims.same_as[index] = firsts[key]
        else:
            firsts[key] = index
    won = embedded._claim_keys(tx, topic, list(firsts), stamp, window)
    tx.executemany(  # a pending claim names its partition: a repeat is sent to the same stream
        "UPDATE idempotency_keys SET partition = ? WHERE topic = ? AND key = ?",
        [(records[firsts[key]].partition, topic, key) for key in won],
    )
    for key, index in firsts.items():
        row = tx.one(
            "SELECT partition, event_offset, expires_at FROM idempotency_keys"
            " WHERE topic = ? AND key = ?",
            (topic, key),
        )
        assert row is not None  # claimed just now, or live
        if int(row[1]) >= 0:
            claims.stored[index] = (int(row[0]), int(row[1]))
        else:
            claims.fresh.append(index)
            claims.targets[index] = (int(row[0]), f"{key}@{row[2]}")
    claims.fresh.sort()
    return claims


def _own_keys(tx: Tx, topic: str, records: Sequence[Record], placed: dict[int, Event]) -> None:
    tx.executemany(
        "UPDATE idempotency_keys SET partition = ?, event_offset = ? WHERE topic = ? AND key = ?",
        [
            (event.partition, event.offset, topic, records[i].event.idempotencykey)
            for i, event in placed.items()
            if records[i].event.idempotencykey is not None
        ],
    )
