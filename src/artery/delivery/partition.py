"""Serving one leased partition for one consumer.

An event is *unsettled* from the moment it is fetched until it is completed, durably
scheduled for a retry, or dead-lettered; the committed offset (the watermark) never passes
an unsettled event, so a crash re-delivers exactly what was not settled.

Ordered consumers keep a lane per partition key: events of one key run one after another,
and while a key has a pending retry its later events wait in the lane (head-of-line
blocking for that key only). Pending retries are reloaded when a partition is taken over,
so the blocking survives restarts and takeovers.

Fencing: a partition's handler calls happen only while this process verifiably holds its
lease. The balancer sets ``lease_deadline`` (a conservative local deadline, earlier than
the lease's expiry in the store) at each renewal; a handler is invoked only before it, and
when it passes unrenewed, or the lease is found lost or given back, the partition stops at
once: no new call starts, in-flight calls are cancelled, queued events of a key are not
advanced. Durable settle writes (retry schedule, dead letter, completion) re-check the
lease in their own transaction. So the next owner, which reads the pending retries only
after taking the lease, sees every retry its predecessor scheduled, and no call of the old
owner starts after the new owner began. What cannot be fenced: a partner call already in
flight when the lease runs out may still land after the new owner re-delivers that event
or its successors; an ordered consumer hands the partner ``ctx.idempotency_key`` so that
late duplicate is a no-op and the partner's applied order stays the key's order.
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
from artery.health import log_failure

if TYPE_CHECKING:
    from artery.delivery.runner import ConsumerRunner

Outcome = str  # "done" | "retry" | "dead" | "abandoned" (lease lost: left unsettled)
log = logging.getLogger("artery.delivery")
IDLE_RECHECK = 1.0  # an idle partition re-reads this often even if nobody woke it


class PartitionWorker:
    def __init__(
        self, runner: ConsumerRunner, partition: int, committed: int, lease_deadline: float
    ) -> None:
        self.runner = runner
        self.lease_deadline = lease_deadline  # time.monotonic() until which the lease holds
        self.partition = partition
        self.cursor = committed
        self.committed = committed
        self.unsettled: set[int] = set()
        self.scheduled: set[int] = set()  # offsets pending a retry when the partition was taken
        self.tasks: set[asyncio.Task[None]] = set()
        self.lanes: dict[str, deque[Event]] = {}
        # Ordered consumers: the one event of a key running now, and a key's events that
        # wait in the retry schedule (the earliest runs first, and the lane waits for all).
        self.running: dict[str, int] = {}
        self.pending: dict[str, set[int]] = {}
        self.retrying: set[int] = set()  # offsets whose retry is running now
        self.retry_finished: dict[int, float] = {}  # offset -> when its retry run ended
        self.stopping = False
        self.fenced = False  # no settlement of this worker may be written any more
        self.fetcher: asyncio.Task[None] | None = None
        self.lease_watch: asyncio.Task[None] | None = None
        self.new_events = asyncio.Event()  # set by the runner's head watcher

    def lease_current(self) -> bool:
        """Whether the lease is verifiably ours: its local deadline has not passed."""
        return time.monotonic() < self.lease_deadline

    def holds_lease(self) -> bool:
        """Whether a handler of this partition may be invoked now."""
        return not self.stopping and self.lease_current()

    def lease_lost(self) -> None:
        """Stop everything at once: another worker may already be delivering this partition.
        Cancelled deliveries stay unsettled; the new owner delivers them again."""
        self.stopping = self.fenced = True
        for task in (self.fetcher, self.lease_watch, *self.tasks):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def _watch_lease(self) -> None:
        """Cancel in-flight work when the lease runs out unrenewed (the balancer is stuck or
        the store unreachable): past its deadline another worker may take the partition."""
        while (left := self.lease_deadline - time.monotonic()) > 0:
            await asyncio.sleep(left)
        topic = self.runner.consumer.topic
        log.warning("lease on %s/%d ran out unrenewed; stopping", topic, self.partition)
        self.lease_lost()

    def watermark(self) -> int:
        return min(self.unsettled) if self.unsettled else self.cursor

    def hold_back(self, pending: list[Event]) -> None:
        """Take over the pending retries found when the partition was taken: the retry loop
        runs them, fetching skips them, and (ordered) their keys' later events wait. A lane
        that exists is a key that is busy or blocked."""
        self.scheduled = {e.offset or 0 for e in pending}
        for event in pending:
            key = self._key(event)
            if key is not None:
                self.lanes.setdefault(key, deque())
                self.pending.setdefault(key, set()).add(event.offset or 0)

    def _key(self, event: Event) -> str | None:
        """The ordering key of an event, or None for an unordered consumer."""
        return (event.partitionkey or event.id) if self.runner.consumer.ordered else None

    def retry_is_stale(self, offset: int, read_started: float) -> bool:
        """True if a listed retry must not run: it is running, or it finished after the
        read that listed it began (that row is gone or rewritten since)."""
        return offset in self.retrying or self.retry_finished.get(offset, -1.0) >= read_started

    def forget_retries_before(self, moment: float) -> None:
        self.retry_finished = {o: t for o, t in self.retry_finished.items() if t >= moment}

    def start(self) -> None:
        consumer = self.runner.consumer
        guard = self.runner.runtime.health.guard(
            f"delivery fetch of {consumer.group}/{consumer.topic}/{self.partition}", log
        )
        self.fetcher = asyncio.create_task(
            guard.run(self._fetch_once), name=f"fetch-{self.partition}"
        )
        self.lease_watch = asyncio.create_task(self._watch_lease(), name=f"lease-{self.partition}")

    async def _fetch_once(self) -> None:
        """Read the next events and admit them; wait for new ones when there are none."""
        runner, consumer = self.runner, self.runner.consumer
        self.new_events.clear()
        limit = max(1, min(500, consumer.concurrency * 4))
        events = await runner.runtime.log.read(consumer.topic, self.partition, self.cursor, limit)
        if not events:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_RECHECK):
                    await self.new_events.wait()
            return
        skip = await self._already_done(events)
        for event in events:
            offset = event.offset or 0
            self.cursor = offset + 1
            if event.id in skip or offset in self.scheduled:
                continue
            self.unsettled.add(offset)
            await self.admit(event)
            if self.stopping:
                return  # stop() has cancelled this task; it ends at its next await

    async def _already_done(self, events: list[Event]) -> set[str]:
        """Event ids this group already settled: completed (tracked with ``dedupe=True``)
        or waiting in the dead letters."""
        consumer = self.runner.consumer
        if not consumer.dedupe:
            return set()
        ids = [e.id for e in events]
        marks = ",".join("?" * len(ids))
        rows = await self.runner.durably(
            lambda tx: tx.execute(
                f"SELECT event_id FROM completions WHERE group_name = ? AND event_id IN ({marks})"
                " UNION SELECT event_id FROM dead_letters WHERE group_name = ?"
                f" AND redriven_at IS NULL AND event_id IN ({marks})",
                [consumer.group, *ids, consumer.group, *ids],
            ),
            read=True,
        )
        return {r[0] for r in rows}

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
        self.spawn(self._first_attempt(event), event)

    def _first_attempt(self, event: Event) -> Callable[[], Awaitable[Outcome]]:
        return lambda: self.runner.deliver(self, event, 0, (), from_retry=False)

    def spawn(
        self, work: Callable[[], Awaitable[Outcome]], event: Event, *, take_slot: bool = False
    ) -> None:
        """Run ``work`` as a task of this partition, holding a concurrency slot (already
        taken by the caller, or taken first when ``take_slot``)."""
        key = self._key(event)
        if key is not None:
            self.running[key] = event.offset or 0
        task = asyncio.create_task(self._settle_after(work, event, take_slot))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _settle_after(
        self, work: Callable[[], Awaitable[Outcome]], event: Event, take_slot: bool
    ) -> None:
        if take_slot:
            await self.runner.slots.acquire()  # cancelled here: there is no slot to give back
        try:
            outcome = await work()
        except Exception as exc:
            # A bug, not a handler failure (those are outcomes). The event stays unsettled,
            # so its offset is not committed and it is delivered again after a restart;
            # the growing lag and this log line are where a person sees it.
            where = f"{event.id} at {event.topic}/{event.offset}"
            log_failure(log, f"delivery of {where} failed in the engine", exc)
            return
        finally:
            self.runner.slots.release()
        offset = event.offset or 0
        if offset in self.retrying:
            self.retrying.discard(offset)
            self.retry_finished[offset] = time.monotonic()
        key = self._key(event)
        if key is not None and self.running.get(key) == offset:
            del self.running[key]
        if outcome == "abandoned":
            return  # unsettled, its key not advanced: the partition's next owner goes on
        self.unsettled.discard(offset)
        if key is not None:
            waiting = self.pending.setdefault(key, set())
            (waiting.add if outcome == "retry" else waiting.discard)(offset)
            self._advance_lane(key)

    def _advance_lane(self, key: str) -> None:
        if self.pending.get(key) or self.stopping:
            return  # the key waits for its retries, or for this partition's next owner
        self.pending.pop(key, None)
        lane = self.lanes.get(key)
        if lane is None:
            return
        if not lane:
            del self.lanes[key]
            return
        upcoming = lane.popleft()
        self.spawn(self._first_attempt(upcoming), upcoming, take_slot=True)

    def _next_of_key(self, key: str, offset: int) -> bool:
        return key not in self.running and offset == min(self.pending.get(key) or {offset})

    def run_retry(self, work: Callable[[], Awaitable[Outcome]], event: Event) -> bool:
        """Start a due retry (the caller holds a slot for it); False if it must not run now
        (the partition is stopping; or, ordered, its key has an event running or an earlier
        one waiting), so the caller gives the slot back and it runs later."""
        key, offset = self._key(event), event.offset or 0
        if self.stopping or (key is not None and not self._next_of_key(key, offset)):
            return False
        self.retrying.add(event.offset or 0)
        self.spawn(work, event)
        return True

    async def stop(self, grace: float) -> None:
        """Stop fetching; let running deliveries finish within ``grace``, then cancel them."""
        self.stopping = True
        if self.fetcher is not None:
            self.fetcher.cancel()
            await asyncio.gather(self.fetcher, return_exceptions=True)
        if self.tasks:  # the lease watch still cancels them if the lease runs out first
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            self.fenced = self.fenced or bool(pending)  # a cancelled write must not land
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.lease_watch is not None:
            self.lease_watch.cancel()
            await asyncio.gather(self.lease_watch, return_exceptions=True)
