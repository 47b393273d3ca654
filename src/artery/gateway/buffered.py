"""Writes the front door makes per request, batched: one store transaction per interval
instead of one per request (decisions, key usage). A request never waits on them; a
stopped service flushes what it holds, and a failing flush keeps the rows, backs off and
marks the process unhealthy (``Health.guard``), so nothing is lost quietly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from artery.runtime import Runtime
from artery.store import SqlStore
from artery.store.protocol import Tx

T = TypeVar("T")
log = logging.getLogger("artery.gateway")


class Buffered(Generic[T]):
    """Rows of one kind, kept in memory until ``write`` stores them in one transaction.

    Bounded: past ``limit`` rows waiting (a store down for long), new rows are dropped,
    counted in ``dropped`` and logged once per streak: the process stays up and says so."""

    def __init__(
        self,
        name: str,
        write: Callable[[Tx, Sequence[T]], Any],
        *,
        interval: float = 0.2,
        limit: int = 100_000,
    ) -> None:
        self.name = name
        self.interval = interval
        self.limit = limit
        self.dropped = 0
        self._write = write
        self._rows: list[T] = []
        self._store: SqlStore | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, row: T) -> None:
        if len(self._rows) >= self.limit:
            if not self.dropped:
                log.error(
                    "%s: %d rows wait for the store; dropping new ones", self.name, self.limit
                )
            self.dropped += 1
            return
        self._rows.append(row)

    async def flush(self) -> None:
        if not self._rows or self._store is None:
            return
        rows, self._rows = self._rows, []
        try:
            await self._store.write(lambda tx: self._write(tx, rows))
        except BaseException:
            self._rows[:0] = rows  # kept, in order, for the next try
            raise
        self.dropped = 0

    async def start(self, runtime: Runtime) -> None:
        self._store = runtime.store
        guard = runtime.health.guard(self.name, log)

        async def iteration() -> None:
            await asyncio.sleep(self.interval)
            await self.flush()

        self._task = asyncio.create_task(guard.run(iteration), name=f"artery-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()
