"""Each running process says, every few seconds, which of its background loops are failing
(``observe_processes``): ``/readyz`` answers for one process, ``artery status`` reads every
process of the app from the store. Stopping deletes the row; a row not refreshed for a
minute is reported as a process that stopped without saying so, or hangs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import orjson

from artery import ids
from artery.runtime import Runtime

log = logging.getLogger("artery.observe")
STALE_AFTER = 60.0  # seconds without a refresh before a process counts as gone


class Beacon:
    """A service of every process role."""

    def __init__(self, role: str, *, interval: float = 5.0) -> None:
        self.role = role
        self.interval = interval
        self.process = f"{socket.gethostname()}:{os.getpid()}:{ids.random_bytes(4).hex()}"
        self.started_at = int(time.time() * 1_000_000)
        self._runtime: Runtime | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        await self.beat()
        guard = runtime.health.guard("observe-beacon", log)

        async def iteration() -> None:
            await asyncio.sleep(self.interval)
            await self.beat()

        self._task = asyncio.create_task(guard.run(iteration), name="artery-observe-beacon")

    async def beat(self) -> None:
        runtime = self._runtime
        assert runtime is not None
        failing = orjson.dumps(
            [
                {"loop": f.loop, "since": f.since, "count": f.count, "error": f.error}
                for f in runtime.health.failures()
            ]
        ).decode()
        row = (
            self.process,
            self.role,
            socket.gethostname(),
            os.getpid(),
            self.started_at,
            int(time.time() * 1_000_000),
            failing,
        )
        await runtime.store.write(
            lambda tx: tx.execute(
                "INSERT INTO observe_processes (process, role, host, pid, started_at, seen_at,"
                " failing_json) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (process) DO UPDATE SET"
                " seen_at = excluded.seen_at, failing_json = excluded.failing_json",
                row,
            )
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._runtime is not None:
            await self._runtime.store.write(
                lambda tx: tx.execute(
                    "DELETE FROM observe_processes WHERE process = ?", (self.process,)
                )
            )


__all__ = ["STALE_AFTER", "Beacon"]
