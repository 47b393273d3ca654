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
from collections.abc import Sequence
from typing import TYPE_CHECKING

from artery.delivery.breaker import Breakers
from artery.delivery.consumer import Consumer
from artery.delivery.leases import Leases, new_worker_id
from artery.delivery.middleware import Middleware
from artery.delivery.rate_limit import RateLimiter
from artery.delivery.runner import ConsumerRunner
from artery.errors import StoreUnavailable

if TYPE_CHECKING:
    from artery.app import App

LEASE_MARGIN = 0.75  # a lease counts as ours for this share of its ttl after renewal
log = logging.getLogger("artery.worker")


class Worker:
    def __init__(
        self,
        consumers: list[Consumer],
        *,
        lease_ttl: float = 10.0,
        poll_interval: float = 0.01,
        commit_interval: float = 0.05,
        retry_poll: float = 0.1,
        grace: float = 30.0,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.consumers = consumers
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.commit_interval = commit_interval
        self.retry_poll = retry_poll
        self.grace = grace
        self.middleware = tuple(middleware)  # every consumer's, inside its own policies
        self.worker_id = new_worker_id()
        self.runners: list[ConsumerRunner] = []
        self._balancer: asyncio.Task[None] | None = None

    async def start(self, app: App) -> None:
        self.app = app
        self.leases = Leases(app.store, self.worker_id, self.lease_ttl)
        self.limiter = RateLimiter(app.store)
        self.breakers = Breakers(app.store, self.worker_id)
        await self.leases.heartbeat()
        for consumer in self.consumers:
            await app.log.join(consumer.group, consumer.topic, consumer.start)
            runner = ConsumerRunner(self, consumer)
            runner.start()
            self.runners.append(runner)
        await self._balance_once()
        guard = app.health.guard("delivery lease balancing", log)
        self._balancer = asyncio.create_task(
            guard.run(self._balance_every_period), name="artery-balancer"
        )

    async def stop(self) -> None:
        if self._balancer is not None:
            self._balancer.cancel()
            await asyncio.gather(self._balancer, return_exceptions=True)
        await asyncio.gather(*(r.stop(self.grace) for r in self.runners))
        self.runners.clear()
        with contextlib.suppress(StoreUnavailable):
            await self.leases.leave()

    async def _balance_every_period(self) -> None:
        # Renewal needs ttl/3; balancing every second lets a new worker get its share
        # of partitions within about two seconds instead of two renewal periods.
        await asyncio.sleep(min(self.lease_ttl / 3, 1.0))
        await self._balance_once()

    async def _balance_once(self) -> None:
        await self.leases.heartbeat()
        for runner in self.runners:
            topic = await self.app.log.topic(runner.consumer.topic)
            # Measured before the renewal is written, so the local deadline falls before
            # the expiry stored (other workers' clocks must agree within the margin).
            renewed_at = time.monotonic()
            assignment = await self.leases.balance(
                runner.consumer.group, topic.name, topic.partitions
            )
            deadline = renewed_at + self.lease_ttl * LEASE_MARGIN
            await runner.assign(assignment.keep, assignment.surplus, deadline)
            await runner.sync_positions()
