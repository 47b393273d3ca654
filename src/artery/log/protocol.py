"""The ``Log`` protocol: what an event log backend stores and serves.

Backends receive records that are already validated and assigned a partition; they own
offsets, consumer-group positions and retention. The embedded backend keeps all of it in
the ``Store``; a JetStream backend can implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from artery.envelope import Event
from artery.errors import ConfigError


@dataclass(frozen=True)
class Retention:
    """Keep events while younger than ``max_age`` seconds and among the newest ``max_count``
    per partition; ``None`` means unbounded. Events a consumer group has not settled yet
    are kept regardless (the backlog grows and shows), unless ``drop_unconsumed``: then
    they go too, and each group's count of events dropped unread is stored and logged."""

    max_age: float | None = None
    max_count: int | None = None
    drop_unconsumed: bool = False

    def __post_init__(self) -> None:
        # Zero or less would let the retention sweeper delete every event of the topic.
        if self.max_count is not None and self.max_count < 1:
            raise ConfigError(
                f"retention count {self.max_count} would delete every event",
                fix="keep at least 1 event per partition, or leave the count unbounded",
            )
        if self.max_age is not None and self.max_age <= 0:
            raise ConfigError(
                f"retention age {self.max_age:g}s would delete every event",
                fix="use an age of more than zero (e.g. 7d), or leave the age unbounded",
            )


@dataclass(frozen=True)
class Topic:
    name: str
    subject: str
    partitions: int
    retention: Retention = Retention()


@dataclass(frozen=True)
class Record:
    """An event ready to be stored: partition chosen, body serialized, contract checked."""

    event: Event
    partition: int
    contract_version: int
    body: bytes


@dataclass(frozen=True)
class PartitionState:
    partition: int
    low: int  # first offset still stored
    next: int  # offset the next append gets


@dataclass(frozen=True)
class GroupPosition:
    group: str
    topic: str
    partition: int
    committed: int  # next offset the group will read
    next: int

    @property
    def lag(self) -> int:
        return max(0, self.next - self.committed)


class Log(Protocol):
    async def create_topic(self, topic: Topic) -> Topic: ...
    async def topic(self, name: str) -> Topic | None: ...
    async def topics(self) -> list[Topic]: ...
    async def append(
        self, topic: Topic, records: Sequence[Record], *, dedupe_window: float
    ) -> list[Event]:
        """Store all records or none; events whose idempotency key was seen within the
        window are not stored again and come back as the event stored first."""
        ...

    async def read(self, topic: str, partition: int, offset: int, limit: int) -> list[Event]: ...
    async def partitions(self, topic: str) -> list[PartitionState]: ...
    async def heads(self, topic: str) -> dict[int, int]:
        """``{partition: next offset}``: cheaper than ``partitions``, polled by consumers."""
        ...

    async def offset_at(self, topic: str, partition: int, at_us: int) -> int: ...
    async def join(self, group: str, topic: Topic, start: str) -> None:
        """Give ``group`` a position on every partition it has none on: ``earliest`` or
        ``latest``."""
        ...

    async def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None: ...
    async def positions(self, group: str | None = None) -> list[GroupPosition]: ...
    async def trim(self, topic: Topic, now_us: int) -> int: ...
