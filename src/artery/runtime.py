"""``Runtime``: the opened store and what is built on it, shared by the app and the CLI.

One function, ``open_runtime``, opens the store and builds the contract registry, the
event log and the clock on it, so ``App``, every CLI command and every background service
see the same things built the same way. Services receive the ``Runtime`` and their own
declarations, never the whole ``App``: what they may reach is what is here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from artery.clock import Clock, SystemClock
from artery.config import Settings
from artery.contracts import Registry
from artery.health import Health
from artery.log import EventLog, StoreLog
from artery.observe.metrics import Metrics
from artery.observe.tracing import Tracing
from artery.schema import SCHEMAS
from artery.store import SqlStore, open_store

if TYPE_CHECKING:
    from artery.integration import Contract


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: SqlStore
    registry: Registry
    log: EventLog
    health: Health = field(default_factory=Health)
    clock: Clock = field(default_factory=SystemClock)
    metrics: Metrics = field(default_factory=Metrics)
    tracing: Tracing = field(default_factory=lambda: Tracing("artery", enabled=False))


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    health: Health | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[Runtime]:
    """Open the store named by ``settings`` (migrating every package's schema) for the
    block, then close it. ``clock`` is the time services see (a ``ManualClock`` in tests);
    ``metrics`` and ``tracing`` are the app's (tools get their own, unexported)."""
    clock = clock or SystemClock()
    health = health or Health()
    store = await open_store(
        settings.store, sqlite_synchronous=settings.sqlite_synchronous, schemas=SCHEMAS
    )
    backend: StoreLog | None = None
    log: EventLog | None = None
    try:
        backend = await log_backend(settings, store)
        registry = Registry(store)
        log = EventLog(
            backend,
            registry,
            dedupe_window=settings.dedupe_window,
            max_event_size=settings.max_event_size,
            clock=clock,
            health=health,
        )
        yield Runtime(
            settings,
            store,
            registry,
            log,
            health,
            clock,
            metrics or Metrics(),
            tracing or Tracing("artery", enabled=False),
        )
    finally:
        if log is not None:
            await log.close()
        if backend is not None:
            await backend.close()
        await store.close()


async def log_backend(settings: Settings, store: SqlStore) -> StoreLog:
    """Where events live: in the store, or in JetStream when ``settings.log`` names it
    (topics, positions, leases and keys stay in the store either way)."""
    if not settings.log:
        return StoreLog(store)
    from artery.log.jetstream import JetStreamLog, connect

    connection, prefix = await connect(settings.log)
    return JetStreamLog(store, connection, prefix)


async def install(runtime: Runtime, contracts: Iterable[Contract]) -> None:
    """Register each declared contract (a new version if its schema changed, refused if
    incompatible) and create the topic that carries it."""
    for declared in contracts:
        await runtime.registry.register(
            declared.subject,
            declared.schema,
            owner=declared.owner,
            description=declared.description,
            examples=declared.examples,
            compatibility=declared.compatibility,
        )
        partitions = declared.partitions
        await runtime.log.create_topic(
            declared.topic,
            declared.subject,
            partitions=runtime.settings.partitions if partitions is None else partitions,
            retention=declared.retention,
        )


class Service(Protocol):
    """Something that runs while the app runs: started in order once the runtime is open,
    stopped in reverse order."""

    async def start(self, runtime: Runtime) -> None: ...
    async def stop(self) -> None: ...
