"""Serving one leased partition for one consumer.

An event is *unsettled* from the moment it is fetched until it is completed, durably
scheduled for a retry, or dead-lettered; the committed offset (the watermark) never passes
an unsettled event, so a crash re-delivers exactly what was not settled.

Ordered consumers keep a lane per partition key: events of one key run one after another,
and while a key has a pending retry its later events wait in the lane (head-of-line
blocking for that key only). Pending retries are reloaded when a partition is taken over,
so the blocking survives restarts and takeovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from artery.envelope import Event

if TYPE_CHECKING:
    from artery.delivery.runner import ConsumerRunner

Outcome = str  # "done" | "retry" | "dead"
log = logging.getLogger("artery.delivery")
IDLE_RECHECK = 1.0  # an idle partition re-reads this often even if nobody woke it


class PartitionWorker:
    def __init__(self, runner: ConsumerRunner, partition: int, committed: int) -> None:
        self.runner = runner
        self.partition = partition
        self.cursor = committed
        self.committed = committed
        self.unsettled: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.lanes: dict[str, deque[Event]] = {}
        self.retrying: set[int] = set()  # offsets whose retry is running now
        self.retry_finished: dict[int, float] = {}  # offset -> when its retry run ended
        self.stopping = False
        self.fetcher: asyncio.Task[None] | None = None
        self.new_events = asyncio.Event()  # set by the runner's head watcher

    def watermark(self) -> int:
        return min(self.unsettled) if self.unsettled else self.cursor

    def block(self, key: str) -> None:
        """Hold back later events of ``key`` (an ordered consumer's key with a pending retry);
        a lane that exists is a key that is busy or blocked."""
        self.lanes.setdefault(key, deque())

    def retry_is_stale(self, offset: int, read_started: float) -> bool:
        """True if a listed retry must not run: it is running, or it finished after the
        read that listed it began (that row is gone or rewritten since)."""
        return offset in self.retrying or self.retry_finished.get(offset, -1.0) >= read_started

    def forget_retries_before(self, moment: float) -> None:
        self.retry_finished = {o: t for o, t in self.retry_finished.items() if t >= moment}

    def start(self) -> None:
        consumer = self.runner.consumer
        guard = self.runner.app.health.guard(
            f"delivery fetch of {consumer.group}/{consumer.topic}/{self.partition}", log
        )
        self.fetcher = asyncio.create_task(
            guard.run(self._fetch_once), name=f"fetch-{self.partition}"
        )

    async def _fetch_once(self) -> None:
        """Read the next events and admit them; wait for new ones when there are none."""
        runner = self.runner
        self.new_events.clear()
        events = await runner.fetch(self.partition, self.cursor)
        if not events:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_RECHECK):
                    await self.new_events.wait()
            return
        skip = await runner.already_done(events)
        for event in events:
            offset = event.offset or 0
            self.cursor = offset + 1
            if event.id in skip or offset in runner.scheduled_offsets(self.partition):
                continue
            self.unsettled.add(offset)
            await self.admit(event)
            if self.stopping:
                return  # stop() has cancelled this task; it ends at its next await

    async def admit(self, event: Event) -> None:
        """Queue behind its key (ordered) or start it now; waits for a concurrency slot."""
        if self.runner.consumer.ordered:
            key = event.partitionkey or event.id
            lane = self.lanes.get(key)
            if lane is not None:
                lane.append(event)
                return
            self.lanes[key] = deque()
        await self.runner.slots.acquire()
        self.spawn(self.runner.deliver(event, 0, (), from_retry=False), event)

    def spawn(self, work: Awaitable[Outcome], event: Event) -> None:
        task = asyncio.create_task(self._settle_after(work, event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _settle_after(self, work: Awaitable[Outcome], event: Event) -> None:
        try:
            outcome = await work
        except Exception:
            # A bug, not a handler failure (those are outcomes). The event stays unsettled,
            # so its offset is not committed and it is delivered again after a restart;
            # the growing lag and this log line are where a person sees it.
            log.exception(
                "delivery of %s at %s/%s failed in the engine", event.id, event.topic, event.offset
            )
            return
        finally:
            self.runner.slots.release()
        offset = event.offset or 0
        self.unsettled.discard(offset)
        if offset in self.retrying:
            self.retrying.discard(offset)
            self.retry_finished[offset] = time.monotonic()
        if self.runner.consumer.ordered:
            self._advance_lane(event.partitionkey or event.id, outcome)

    def _advance_lane(self, key: str, outcome: Outcome) -> None:
        if outcome == "retry":
            return  # the lane stays: the key waits for its retry
        lane = self.lanes.get(key)
        if lane is None:
            return
        if not lane:
            del self.lanes[key]
            return
        upcoming = lane.popleft()
        self.spawn(self._after_slot(upcoming), upcoming)

    async def _after_slot(self, event: Event) -> Outcome:
        await self.runner.slots.acquire()
        return await self.runner.deliver(event, 0, (), from_retry=False)

    def run_retry(self, work: Callable[[], Awaitable[Outcome]], event: Event) -> None:
        self.retrying.add(event.offset or 0)
        self.spawn(work(), event)

    async def stop(self, grace: float) -> None:
        """Stop fetching; let running deliveries finish within ``grace``, then cancel them."""
        self.stopping = True
        if self.fetcher is not None:
            self.fetcher.cancel()
            await asyncio.gather(self.fetcher, return_exceptions=True)
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
