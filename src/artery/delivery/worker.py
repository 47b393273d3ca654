"""The worker: runs every consumer of an app, balancing partitions with other workers.

Started by ``App.running()`` (in-process) or ``artery worker`` (a process of its own, which
stops gracefully on SIGTERM: it stops fetching, lets running handlers finish within the
grace period, commits and gives its leases back so others take over at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from artery.delivery.breaker import Breakers
from artery.delivery.consumer import Consumer, Effects
from artery.delivery.middleware import Middleware
from artery.delivery.rate_limit import RateLimiter
from artery.delivery.runner import ConsumerRunner
from artery.durations import require_seconds
from artery.errors import StoreUnavailable
from artery.identity import new_worker_id
from artery.runtime import Runtime

LEASE_MARGIN = 0.75  # a lease counts as ours for this share of its ttl after renewal
log = logging.getLogger("artery.worker")


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning of a worker process, in seconds. ``lease_ttl`` bounds how long a dead
    worker's partitions wait for a new owner; ``poll_interval`` how long a new event waits
    for a worker in another process; ``grace`` how long running handlers get at shutdown."""

    lease_ttl: float = 10.0
    poll_interval: float = 0.01
    commit_interval: float = 0.05
    retry_poll: float = 0.1
    grace: float = 30.0
    middleware: Sequence[Middleware] = field(default=())  # hooks on every delivery attempt

    def __post_init__(self) -> None:
        for name in ("lease_ttl", "poll_interval", "commit_interval", "retry_poll"):
            require_seconds("WorkerOptions", name, getattr(self, name))
        require_seconds("WorkerOptions", "grace", self.grace, zero_ok=True)


class Worker:
    def __init__(
        self, consumers: list[Consumer], effects: Effects, options: WorkerOptions | None = None
    ) -> None:
        self.consumers = consumers
        self.effects = effects
        self.options = options or WorkerOptions()
        self.worker_id = new_worker_id()
        self.runners: list[ConsumerRunner] = []
        self._balancer: asyncio.Task[None] | None = None

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.leases = runtime.log.coordinator(self.worker_id, self.options.lease_ttl)
        self.limiter = RateLimiter(runtime.store, on_wait=_counted_waits(runtime))
        self.breakers = Breakers(runtime.store, self.worker_id)
        await self.leases.heartbeat()
        for consumer in self.consumers:
            await runtime.log.join(consumer.group, consumer.topic, consumer.start)
            runner = ConsumerRunner(self, consumer)
            runner.start()
            self.runners.append(runner)
        await self._balance_once()
        guard = runtime.health.guard("delivery lease balancing", log)
        self._balancer = asyncio.create_task(
            guard.run(self._balance_every_period), name="artery-balancer"
        )

    async def stop(self) -> None:
        if self._balancer is not None:
            self._balancer.cancel()
            await asyncio.gather(self._balancer, return_exceptions=True)
        await asyncio.gather(*(r.stop(self.options.grace) for r in self.runners))
        self.runners.clear()
        with contextlib.suppress(StoreUnavailable):
            await self.leases.leave()

    async def add(self, consumer: Consumer) -> None:
        """Start delivering for a consumer made at run time (a webhook destination created
        over the admin API); the next balancing round, within a second, leases it
        partitions."""
        await self.runtime.log.join(consumer.group, consumer.topic, consumer.start)
        runner = ConsumerRunner(self, consumer)
        runner.start()
        self.runners.append(runner)

    async def remove(self, group: str) -> None:
        """Stop the consumers of ``group``; their partition leases lapse."""
        leaving = [r for r in self.runners if r.consumer.group == group]
        self.runners = [r for r in self.runners if r.consumer.group != group]
        await asyncio.gather(*(r.stop(self.options.grace) for r in leaving))

    @property
    def started(self) -> bool:
        return hasattr(self, "runtime")

    async def _balance_every_period(self) -> None:
        # Renewal needs ttl/3; balancing every second lets a new worker get its share
        # of partitions within about two seconds instead of two renewal periods.
        await asyncio.sleep(min(self.options.lease_ttl / 3, 1.0))
        await self._balance_once()

    async def _balance_once(self) -> None:
        await self.leases.heartbeat()
        for runner in list(self.runners):  # add() and remove() may change the list
            topic = await self.runtime.log.topic(runner.consumer.topic)
            # Measured before the renewal is written, so the local deadline falls before
            # the expiry stored (other workers' clocks must agree within the margin).
            renewed_at = time.monotonic()
            assignment = await self.leases.balance(
                runner.consumer.group, topic.name, topic.partitions
            )
            deadline = renewed_at + self.options.lease_ttl * LEASE_MARGIN
            await runner.assign(assignment.keep, assignment.surplus, deadline)
            await runner.sync_positions()


def _counted_waits(runtime: Runtime) -> Callable[[str, float], None] | None:
    """Rate-limit waits into the app's metrics (none when metrics are off)."""
    if not runtime.settings.metrics:
        return None
    m = runtime.metrics

    def waited(limit: str, seconds: float) -> None:
        m.child(m.rate_waits, limit).inc()
        m.child(m.rate_waited, limit).inc(seconds)

    return waited
