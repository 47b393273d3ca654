"""Applying topic retention in the background while an app runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from artery.log.protocol import Retention

log = logging.getLogger("artery.retention")

if TYPE_CHECKING:
    from artery.app import App


class RetentionSweeper:
    """Applies each topic's retention every ``settings.retention_interval`` seconds."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._joined: set[tuple[str, str]] = set()  # (group, topic) known to have a position

    async def start(self, app: App) -> None:
        guard = app.health.guard("retention sweeper", log)
        self._task = asyncio.create_task(
            guard.run(lambda: self._sweep(app)), name="artery-retention"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sweep(self, app: App) -> None:
        await asyncio.sleep(app.settings.retention_interval)
        await self.sweep(app)

    async def sweep(self, app: App) -> None:
        """Apply every topic's retention once. A group declared in the app that has never
        run joins first (at its declared start), so what it has not read yet is kept."""
        for topic in await app.log.topics():
            if topic.retention == Retention():
                continue
            for consumer in app.consumers.values():
                key = (consumer.group, topic.name)
                declared = consumer.topic == topic.name and consumer.start == "earliest"
                if declared and key not in self._joined:  # once: a position stays once there
                    await app.log.join(consumer.group, topic.name, consumer.start)
                    self._joined.add(key)
            await app.log.trim(topic.name)
