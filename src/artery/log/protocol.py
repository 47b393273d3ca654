"""The ``Log`` protocol: what an event log backend stores and serves.

Backends receive records that are already validated and assigned a partition; they own
offsets, consumer-group positions and retention, and provide the ``GroupCoordinator`` that
shares a group's partitions among workers. The embedded backend keeps all of it in the
``Store``; a JetStream backend implements the same two protocols, so nothing outside
``log/`` changes with the backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from artery.envelope import Event
from artery.errors import ConfigError
from artery.store.protocol import Tx


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


@dataclass(frozen=True)
class Assignment:
    """The outcome of one balance of a group's partitions, for one worker."""

    keep: frozenset[int]  # partitions this worker holds now (renewed or newly taken)
    surplus: frozenset[int]  # held, but above the fair share: drain, then release


class GroupCoordinator(Protocol):
    """One worker's side of a consumer group: partition leases and fenced offset commits.

    Each worker heartbeats and, every ``ttl / 3``, balances: it renews the leases it holds,
    gives up those above its fair share and takes free or expired ones up to that share,
    so a dead worker's partitions are taken over once its leases expire.

    The fence is the guarantee delivery builds on: a worker that lost a partition neither
    moves the group's position on it (``commit``) nor settles an event of it (``holds``).
    ``holds`` runs inside the caller's ``Store`` write transaction, in which delivery also
    writes the event's retry, dead letter or completion: the check and those rows commit
    together, before the next owner takes the partition (and then it sees them), or not
    at all. Leases must therefore live in the ``Store``, whatever holds the events: a
    JetStream backend keeps its events and positions in JetStream but its leases (and the
    ``workers`` heartbeats) in the Store's tables (PostgreSQL), so that the fence still
    shares the delivery transaction; its ``commit`` checks the lease in a Store
    transaction and then moves the JetStream consumer's position.
    """

    worker_id: str

    async def heartbeat(self) -> None:
        """Show this worker alive: live workers divide a group's partitions among them."""
        ...

    async def balance(self, group: str, topic: str, partitions: int) -> Assignment: ...
    def holds(self, tx: Tx, group: str, topic: str, partition: int) -> bool:
        """Whether this worker still holds the partition, checked inside (and locking the
        leases for the rest of) the caller's write transaction ``tx``."""
        ...

    async def release(
        self, group: str, topic: str, partitions: set[int] | frozenset[int]
    ) -> None: ...
    async def leave(self) -> None:
        """Give up every lease and the heartbeat at once (graceful shutdown)."""
        ...

    async def owners(self, group: str, topic: str) -> dict[int, str]:
        """``{partition: worker id}`` of the leases live now, whoever holds them (for
        operators: which process serves which partition)."""
        ...

    async def commit(
        self, group: str, topic: str, moves: Mapping[int, tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        """Move positions ``{partition: (expected, new)}`` of partitions this worker still
        holds; a position someone else changed (a replay) is left as they set it. Returns
        the partitions whose lease is gone and those whose position was changed under us."""
        ...


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
    def appends(self) -> AsyncIterator[str] | None:
        """The topics any process appends to, as it happens (repeats allowed), so consumers
        wake without waiting for their poll; first an empty string once the feed is live.
        None where the backend cannot tell."""
        ...

    async def close(self) -> None: ...
    def coordinator(self, worker_id: str, ttl: float) -> GroupCoordinator:
        """The coordinator of ``worker_id``, whose leases run out ``ttl`` seconds after
        their last renewal."""
        ...
