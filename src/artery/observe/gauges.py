"""Gauges read from the store, refreshed in the background: each consumer group's backlog
and the age of its oldest unprocessed event, each webhook source's silence, each
destination's disabled flag, and this process's background loops.

A scrape never waits on the store: ``/metrics`` renders what the last refresh found (every
``interval`` seconds). The refresh is a background loop like any other: it logs, backs off
and reports the process unhealthy while it fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from artery.delivery.breaker import Breakers
from artery.observe.metrics import Metrics
from artery.runtime import Runtime

log = logging.getLogger("artery.observe")
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
SourceStatus = Callable[[], Awaitable[list[dict[str, Any]]]]
DestinationStatus = Callable[[], Awaitable[dict[str, bool]]]


class Gauges:
    """A service of serving processes (the ones Prometheus scrapes)."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        sources: SourceStatus | None = None,
        destinations: DestinationStatus | None = None,
        interval: float = 5.0,
        loops: Sequence[str] = (),
    ) -> None:
        self.metrics = metrics
        self.sources = sources
        self.destinations = destinations
        self.interval = interval
        self.loops = tuple(loops)  # loops known to run here, reported healthy until failing
        self._task: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        await self.refresh(runtime)
        guard = runtime.health.guard("observe-gauges", log)

        async def iteration() -> None:
            await asyncio.sleep(self.interval)
            await self.refresh(runtime)

        self._task = asyncio.create_task(guard.run(iteration), name="artery-observe-gauges")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def refresh(self, runtime: Runtime) -> None:
        self.loops_health(runtime)
        await self.backlog(runtime)
        m = self.metrics
        for breaker in await Breakers(runtime.store, "metrics").states():
            m.child(m.breaker, breaker["name"]).set(BREAKER_STATES.get(breaker["state"], 2))
        if self.sources is not None:
            for source in await self.sources():
                m.child(m.silent, source["name"]).set(1 if source["silent"] else 0)
        if self.destinations is not None:
            for name, disabled in (await self.destinations()).items():
                m.child(m.destination_disabled, name).set(1 if disabled else 0)

    def loops_health(self, runtime: Runtime) -> None:
        m = self.metrics
        failing = {f.loop for f in runtime.health.failures()}
        for loop in {*self.loops, *failing}:
            m.child(m.loop_healthy, loop).set(0 if loop in failing else 1)

    async def backlog(self, runtime: Runtime) -> None:
        m = self.metrics
        for (group, topic), (events, age) in (await backlog(runtime)).items():
            m.child(m.backlog, group, topic).set(events)
            m.child(m.oldest, group, topic).set(round(age, 3))


async def backlog(runtime: Runtime) -> dict[tuple[str, str], tuple[int, float]]:
    """Per (group, topic): events not yet processed, and the age in seconds of the oldest
    (the first event past each partition's committed offset)."""
    now = time.time()
    totals: dict[tuple[str, str], tuple[int, float]] = {}
    for position in await runtime.log.positions():
        events, age = totals.get((position.group, position.topic), (0, 0.0))
        if position.lag:
            first = await runtime.log.read(
                position.topic, position.partition, position.committed, 1
            )
            if first:
                age = max(age, now - first[0].time.timestamp())
        totals[(position.group, position.topic)] = (events + position.lag, age)
    return totals


__all__ = ["Gauges", "backlog"]
