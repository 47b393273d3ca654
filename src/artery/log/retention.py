"""Applying topic retention in the background while an app runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from artery.log.protocol import Retention

log = logging.getLogger("artery.retention")

if TYPE_CHECKING:
    from artery.runtime import Runtime


class RetentionSweeper:
    """Applies each topic's retention every ``settings.retention_interval`` seconds."""

    def __init__(self, groups: Sequence[tuple[str, str, str]] = ()) -> None:
        self.groups = groups  # (group, topic, start) the app declares: joined before trimming
        self._task: asyncio.Task[None] | None = None
        self._joined: set[tuple[str, str]] = set()  # (group, topic) known to have a position

    async def start(self, runtime: Runtime) -> None:
        guard = runtime.health.guard("retention sweeper", log)
        self._task = asyncio.create_task(
            guard.run(lambda: self._sweep(runtime)), name="artery-retention"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sweep(self, runtime: Runtime) -> None:
        await asyncio.sleep(runtime.settings.retention_interval)
        await self.sweep(runtime)

    async def sweep(self, runtime: Runtime) -> None:
        """Apply every topic's retention once. A group declared in the app that has never
        run joins first (at its declared start), so what it has not read yet is kept."""
        for topic in await runtime.log.topics():
            if topic.retention == Retention():
                continue
            for group, on, start in self.groups:
                key = (group, topic.name)
                declared = on == topic.name and start == "earliest"
                if declared and key not in self._joined:  # once: a position stays once there
                    await runtime.log.join(group, topic.name, start)
                    self._joined.add(key)
            await runtime.log.trim(topic.name)
