"""``EventLog``: the log as the rest of Artery uses it.

It checks each event against its topic's contract before anything is written (a batch
with one invalid event is refused whole), picks partitions by a stable hash of the
partition key, and leaves storage to a ``Log`` backend. Delivery, the admin API and the
CLI read the log through it alone (and lease partitions through its ``coordinator``), so
a backend can change without them knowing.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from datetime import datetime

from artery import ids
from artery.clock import Clock, SystemClock
from artery.contracts import Registry
from artery.envelope import Event
from artery.errors import (
    BatchViolation,
    ConfigError,
    ContractViolation,
    EventTooLarge,
    InvalidEvent,
    NotFound,
    UnknownTopic,
    Violation,
)
from artery.health import Health
from artery.log.protocol import (
    GroupCoordinator,
    GroupPosition,
    Log,
    PartitionState,
    Record,
    Retention,
    Topic,
)

log = logging.getLogger("artery.log")
DEFAULT_PARTITIONS = 8
DEFAULT_DEDUPE_WINDOW = 24 * 3600.0
DEFAULT_MAX_EVENT_SIZE = 1024 * 1024


def partition_for(key: str, partitions: int) -> int:
    """Stable across processes and releases (CRC-32, not Python's salted ``hash``)."""
    return zlib.crc32(key.encode()) % partitions


class EventLog:
    def __init__(
        self,
        backend: Log,
        registry: Registry,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        clock: Clock | None = None,
        health: Health | None = None,
    ) -> None:
        self.backend = backend
        self.health = health or Health()
        self._watcher: asyncio.Task[None] | None = None
        self.following = False  # other processes' appends reach this one as they happen
        self.clock = clock or SystemClock()  # retention ages events by it
        self.registry = registry
        self.dedupe_window = dedupe_window
        self.max_event_size = max_event_size
        self._topics: dict[str, Topic] = {}
        self._appended: dict[str, asyncio.Event] = {}

    async def create_topic(
        self,
        name: str,
        subject: str,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        retention: Retention | None = None,
    ) -> Topic:
        if partitions < 1 or partitions > 4096:
            raise ConfigError(
                f"topic {name!r}: {partitions} partitions", fix="use between 1 and 4096"
            )
        await self.registry.get(subject)  # the contract must exist first
        topic = await self.backend.create_topic(
            Topic(name, subject, partitions, retention or Retention())
        )
        self._topics[name] = topic
        return topic

    async def topic(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = await self.backend.topic(name)
            if topic is None:
                raise UnknownTopic(
                    f"topic {name!r} does not exist",
                    fix="create it (artery topics create) or declare its contract in the app",
                )
            self._topics[name] = topic
        return topic

    async def topics(self) -> list[Topic]:
        """Every topic of the log, by name (also those no app in this process declares)."""
        return await self.backend.topics()

    async def append(self, topic_name: str, events: Sequence[Event]) -> list[Event]:
        """Encode, size-check and validate every event, then store all of them in one
        transaction (or none). A refused batch names every invalid event by its index."""
        topic = await self.topic(topic_name)
        contract = await self.registry.get(topic.subject)
        compiled = self.registry.compiled(contract)
        for i, event in enumerate(events):
            _check_type(event, topic, i if len(events) > 1 else None)
        bodies = [self._encode(event, i, len(events)) for i, event in enumerate(events)]
        failures: dict[int, list[Violation]] = {}
        for i, event in enumerate(events):
            problems = compiled.violations(event.data, encoded=True)  # _encode checked it
            if problems:
                failures[i] = problems
        if failures and len(events) == 1:
            raise ContractViolation(contract.subject, contract.version, failures[0])
        if failures:
            raise BatchViolation(contract.subject, contract.version, failures, len(events))
        records = []
        for event, body in zip(events, bodies, strict=True):
            key = event.partitionkey or event.id or ids.uuid4()
            partition = partition_for(key, topic.partitions)
            records.append(Record(event, partition, contract.version, body))
        stored = await self.backend.append(topic, records, dedupe_window=self.dedupe_window)
        self._wake(topic.name)
        return stored

    def _encode(self, event: Event, index: int, total: int) -> bytes:
        """The stored form of ``event``; refused if JSON cannot hold it or it is too large."""
        label = f"event {index}" if total > 1 else "event"
        body = event.to_json(label)
        if len(body) > self.max_event_size:
            raise EventTooLarge(
                f"{label} is {len(body)} bytes, over the limit of {self.max_event_size} bytes",
                fix="keep large data elsewhere and publish a reference to it, or raise"
                " max_event_size (ARTERY_MAX_EVENT_SIZE)",
            )
        return body

    def appended(self, topic: str) -> asyncio.Event:
        """Set at the next append to ``topic`` in this process, or in another one when the
        backend tells (PostgreSQL's NOTIFY, a JetStream announcement), so consumers wake at
        once instead of waiting for their next poll (SQLite's other processes: by polling)."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._wake_ups(), name="artery-log-wake-ups")
        signal = self._appended.get(topic)
        if signal is None:
            signal = self._appended[topic] = asyncio.Event()
        return signal

    async def _wake_ups(self) -> None:
        """Follow the backend's feed of appends from every process. A feed that fails is
        logged, backed off and reopened, the process reported unhealthy meanwhile (consumers
        still poll, so events are only later, not lost)."""
        if self.backend.appends() is None:
            return
        guard = self.health.guard("log-wake-ups", log)

        async def follow() -> None:
            self.following = False
            feed = self.backend.appends()
            assert feed is not None
            try:
                async for topic in feed:
                    guard.ok()
                    if topic:
                        self._wake(topic)
                    else:  # the feed is live: consumers may poll less often
                        self.following = True
            finally:
                self.following = False
            raise ConnectionError("the feed of appends ended")

        await guard.run(follow)

    async def close(self) -> None:
        """Stop following other processes' appends."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    def _wake(self, topic: str) -> None:
        signal = self._appended.pop(topic, None)
        if signal is not None:
            signal.set()

    async def read(self, topic: str, partition: int, offset: int, limit: int = 500) -> list[Event]:
        await self.topic(topic)
        return await self.backend.read(topic, partition, offset, limit)

    async def partitions(self, topic: str) -> list[PartitionState]:
        return await self.backend.partitions(topic)

    async def heads(self, topic: str) -> dict[int, int]:
        """``{partition: next offset}``; the cheap read a consumer polls for new events."""
        return await self.backend.heads(topic)

    async def offset_at(self, topic: str, partition: int, at: datetime) -> int:
        """The first offset of ``partition`` appended at or after ``at`` (its head if none)."""
        at_us = int(at.timestamp() * 1_000_000)
        return await self.backend.offset_at(topic, partition, at_us)

    def coordinator(self, worker_id: str, ttl: float) -> GroupCoordinator:
        """Partition leases and fenced commits for one worker process (see
        ``GroupCoordinator``); built by the backend, which knows where leases live."""
        return self.backend.coordinator(worker_id, ttl)

    async def join(self, group: str, topic_name: str, start: str = "earliest") -> None:
        if start not in ("earliest", "latest"):
            raise ConfigError(f"bad start position {start!r}", fix="use earliest or latest")
        await self.backend.join(group, await self.topic(topic_name), start)

    async def positions(self, group: str | None = None) -> list[GroupPosition]:
        return await self.backend.positions(group)

    async def lag(self, group: str, topic: str) -> dict[int, int]:
        return {p.partition: p.lag for p in await self.positions(group) if p.topic == topic}

    async def commit(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        await self.backend.commit(group, topic, offsets)

    async def reset(
        self,
        group: str,
        topic_name: str,
        *,
        to_offset: int | None = None,
        to_time: datetime | None = None,
        to: str | None = None,
        create: bool = False,
    ) -> dict[int, int]:
        """Move a group's position on every partition (replay or skip); returns the new one.

        A group with no position on the topic is refused unless ``create``: a misspelt
        name would otherwise start a new group silently and leave the real one untouched."""
        chosen = [x is not None for x in (to_offset, to_time, to)]
        if sum(chosen) != 1:
            raise ConfigError(
                "reset needs exactly one target", fix="give --to-offset, --to-time or --to"
            )
        if to is not None and to not in ("earliest", "latest"):
            raise ConfigError(f"bad reset target {to!r}", fix="use earliest or latest")
        topic = await self.topic(topic_name)
        if not create and not [p for p in await self.positions(group) if p.topic == topic.name]:
            raise NotFound(
                f"group {group!r} has no position on topic {topic.name!r}",
                fix="check the names with `artery groups list`; to start a new group there,"
                " add --create",
            )
        states = await self.backend.partitions(topic.name)
        offsets: dict[int, int] = {}
        for state in states:
            if to_offset is not None:
                offsets[state.partition] = min(max(to_offset, state.low), state.next)
            elif to_time is not None:
                offsets[state.partition] = await self.offset_at(
                    topic.name, state.partition, to_time
                )
            else:
                offsets[state.partition] = state.low if to == "earliest" else state.next
        await self.backend.commit(group, topic.name, offsets)
        return offsets

    async def trim(self, topic_name: str) -> int:
        return await self.backend.trim(await self.topic(topic_name), self.clock.now_us())


def _check_type(event: Event, topic: Topic, index: int | None) -> None:
    """An event says which contract it follows; a topic carries one contract. A mismatch
    would be validated, stored and later redacted by a contract it does not claim."""
    if event.type != topic.subject:
        label = "event" if index is None else f"event {index}"
        raise InvalidEvent(
            f"{label} has type {event.type!r} but topic {topic.name!r} carries contract"
            f" {topic.subject!r}",
            fix="build events with app.event(contract, data), or publish them to the topic"
            " of their own contract",
        )
