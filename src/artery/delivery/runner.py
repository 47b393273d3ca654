"""Running one consumer in one worker process: its leased partitions, its durable retries,
and its offset commits.

Store writes happen only where durability needs them: when an event is scheduled for a
retry or dead-lettered (before its offset may pass), when a retried or deduped event
completes, and in the periodic watermark commit. A successful first attempt of a plain
consumer costs no write of its own; the commit of its offset is shared with its
neighbours. Every write is retried while the store is unreachable, so an outage pauses
the consumer instead of losing or skipping events. Settlement writes are fenced by the
partition's lease (see ``partition``): a worker that lost a partition writes nothing more
for it, so its next owner starts from a complete picture of pending retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from artery.attempts import AttemptError
from artery.delivery import dead_letters, retry_schedule
from artery.delivery.consumer import Consumer, DeliveryContext
from artery.delivery.middleware import Attempt, seam_for
from artery.delivery.partition import Outcome, PartitionWorker
from artery.envelope import Event
from artery.errors import StoreUnavailable
from artery.govern import for_storing, topic_redactor
from artery.retry import Permanent
from artery.store import Tx
from artery.store.outage import riding_out

if TYPE_CHECKING:
    from artery.delivery.worker import Worker

T = TypeVar("T")
log = logging.getLogger("artery.delivery")
# While other processes' appends wake this one (``EventLog.following``), heads are polled
# this often at most, not every ``poll_interval``: the poll only covers a lost wake-up.
# (On JetStream each poll is a stream-info request per partition.)
FOLLOWED_POLL = 0.1


class ConsumerRunner:
    def __init__(self, worker: Worker, consumer: Consumer) -> None:
        self.worker = worker
        self.runtime = worker.runtime
        self.consumer = consumer
        self.slots = asyncio.Semaphore(consumer.concurrency)
        self.partitions: dict[int, PartitionWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._commit_lock = asyncio.Lock()
        self._assigning = asyncio.Lock()  # one change at a time to which partitions run here
        self._draining: dict[int, asyncio.Task[None]] = {}
        self._retiring: set[PartitionWorker] = set()
        self._hand_back_guard = worker.runtime.health.guard(
            f"delivery hand-back of {consumer.group}/{consumer.topic}", log
        )
        self.seam = seam_for(consumer, worker.breakers, worker.limiter, worker.options.middleware)

    async def _scrubbed(self, event: Event, failure: AttemptError) -> AttemptError:
        """Handlers' messages quote what they saw: the event's classified values are
        scrubbed out before the error is stored (only failures pay for the look-up)."""
        redactor = await for_storing(
            topic_redactor(self.runtime.log, self.consumer.topic, event.data)
        )
        return dataclasses.replace(failure, message=redactor.text(failure.message))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the consumer's background loops, each under a health guard: a failing
        iteration is logged once per streak, backed off and retried, never fatal."""
        loops: dict[str, Callable[[], Awaitable[None]]] = {
            "retries": self._retry_once,
            "commits": self._commit_once,
            "heads": self._heads_once,
            **self.seam.loops,
        }
        where = f"{self.consumer.group}/{self.consumer.topic}"
        self._tasks = [
            asyncio.create_task(
                self.runtime.health.guard(f"delivery {kind} of {where}", log).run(step),
                name=f"{kind}-{self.consumer.name}",
            )
            for kind, step in loops.items()
        ]

    async def stop(self, grace: float) -> None:
        for task in [*self._tasks, *self._draining.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._draining.values(), return_exceptions=True)
        for retiring in self._retiring:  # their stopping was cut short: end it now
            retiring.lease_lost()
        await asyncio.gather(*(p.stop(grace) for p in [*self.partitions.values(), *self._retiring]))
        with contextlib.suppress(StoreUnavailable):
            await self.commit()
        self.partitions.clear()

    async def assign(
        self, keep: frozenset[int], surplus: frozenset[int], lease_deadline: float
    ) -> None:
        """Start newly leased partitions; hand back surplus ones; drop lost ones.
        ``lease_deadline`` is when the leases just renewed may run out (monotonic)."""
        async with self._assigning:
            await self._assign(keep, surplus, lease_deadline)

    async def _assign(
        self, keep: frozenset[int], surplus: frozenset[int], lease_deadline: float
    ) -> None:
        held = keep | surplus
        for partition, worker in sorted(self.partitions.items()):
            running = not worker.stopping or partition in self._draining
            if partition in held and running and worker.lease_current():
                worker.lease_deadline = lease_deadline
            else:
                # Lost to another worker, or ran out before this renewal: another worker
                # may have served it meanwhile, so what we hold in memory (lanes, pending
                # retries) is stale. Stop now; take it afresh below if it is ours.
                del self.partitions[partition]
                worker.lease_lost()
                await self._retire(worker, 0)
        for partition in sorted(surplus):
            if partition not in self.partitions:
                await self.worker.leases.release(
                    self.consumer.group, self.consumer.topic, {partition}
                )
            elif partition not in self._draining:
                self._draining[partition] = asyncio.create_task(self._hand_back(partition))
        for partition in sorted(keep - set(self.partitions)):
            await self._take(partition, lease_deadline)

    async def _retire(self, worker: PartitionWorker, grace: float) -> None:
        """Stop a partition worker no longer in ``partitions``; tracked meanwhile, so that
        shutting down mid-way still ends it."""
        self._retiring.add(worker)
        await worker.stop(grace)  # if cancelled, it stays tracked for ``stop``
        self._retiring.discard(worker)

    async def _hand_back(self, partition: int) -> None:
        """Drain a partition above our fair share, commit and release it, in the background:
        renewing the leases we keep must not wait for slow handlers (that would let them
        run out). The balancer renews this one meanwhile."""
        worker = self.partitions[partition]
        try:
            await self._retire(worker, self.worker.options.grace)
            await self.commit()
            if self.partitions.get(partition) is worker:
                del self.partitions[partition]
                await self.worker.leases.release(
                    self.consumer.group, self.consumer.topic, {partition}
                )
        except Exception as exc:  # the next balance hands it back again
            await self._hand_back_guard.failed(exc)
        else:
            self._hand_back_guard.ok()
        finally:
            self._draining.pop(partition, None)

    async def _take(self, partition: int, lease_deadline: float) -> None:
        """Start serving a partition from its committed position, holding back (ordered)
        the keys with pending retries. Read after our lease was written, so every retry a
        previous owner scheduled is seen (its writes are fenced by the lease)."""
        group, topic = self.consumer.group, self.consumer.topic
        # Writes are applied in order: once this no-op is, every settlement a stopped
        # predecessor in this process had queued has landed (or was fenced off).
        await self.runtime.store.write(lambda tx: None)
        async with self._commit_lock:  # no commit of ours lands between the reads and here
            committed = {
                p.partition: p.committed
                for p in await self.runtime.log.positions(group)
                if p.topic == topic
            }
            pending = await self.runtime.store.read(
                lambda tx: retry_schedule.pending(tx, group, topic, [partition], None, 1_000_000)
            )
            worker = PartitionWorker(self, partition, committed.get(partition, 0), lease_deadline)
            worker.hold_back([r.event for r in pending])
            self.partitions[partition] = worker
        worker.start()

    # -- waking -------------------------------------------------------------------------

    async def _heads_once(self) -> None:
        """Wake exactly the partitions that have new events: one small read per
        ``poll_interval`` for the whole consumer (appends in this process wake it at once),
        instead of every partition polling the events table."""
        topic = self.consumer.topic
        poll = self.worker.options.poll_interval
        if self.runtime.log.following:  # appends elsewhere wake us: the poll is a safety net
            poll = max(poll, FOLLOWED_POLL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll):
                await self.runtime.log.appended(topic).wait()
        heads = await self.runtime.log.heads(topic)
        for partition, head in heads.items():
            worker = self.partitions.get(partition)
            if worker is not None and head > worker.cursor:
                worker.new_events.set()

    # -- delivering --------------------------------------------------------------------

    async def deliver(
        self,
        partition: PartitionWorker,
        event: Event,
        attempts_made: int,
        errors: Sequence[AttemptError],
        *,
        from_retry: bool,
    ) -> Outcome:
        """One attempt, through the consumer's middleware (see ``delivery.middleware``)."""
        consumer, seam = self.consumer, self.seam
        attempt = Attempt(
            event, consumer.group, consumer.name, attempts_made + 1, from_retry, time.monotonic()
        )
        for gate in seam.before:
            await gate(attempt)
        if not partition.holds_lease():  # checked last: the waits above may be long
            if not partition.stopping:
                partition.lease_lost()  # past its deadline: this partition is done here
            return "abandoned"
        ctx = DeliveryContext(
            event,
            consumer.group,
            consumer.name,
            attempt.number,
            self.worker.effects,
            consumer.integration,
        )
        started = time.monotonic()
        try:
            await seam.around(attempt, lambda: consumer.handler(event, ctx))
        except Exception as exc:
            for observe in seam.after:
                await observe(attempt, exc)
            failure = AttemptError.from_exception(
                exc, attempt.number, time.time(), time.monotonic() - started
            )
            failure = await self._scrubbed(event, failure)
            return await self._failed(partition, attempt, exc, (*errors, failure))
        for observe in seam.after:
            await observe(attempt, None)
        if consumer.dedupe or from_retry:
            settled = lambda tx: self._complete(tx, event, from_retry)  # noqa: E731
            if not await self._settle(partition, settled):
                return "abandoned"
        return "done"

    async def _settle(self, partition: PartitionWorker, op: Callable[[Tx], None]) -> bool:
        """Write an event's settlement only while the partition's lease is still ours; if it
        is not, stop the partition and leave the event to its next owner."""
        group, topic = self.consumer.group, self.consumer.topic

        def fenced(tx: Tx) -> bool:
            if partition.fenced or not self.worker.leases.holds(
                tx, group, topic, partition.partition
            ):
                return False
            op(tx)
            return True

        if await self.durably(fenced):
            return True
        log.warning("lease on %s/%d is gone; leaving it to its owner", topic, partition.partition)
        partition.lease_lost()
        return False

    async def _failed(
        self,
        partition: PartitionWorker,
        attempt: Attempt,
        exc: Exception,
        errors: Sequence[AttemptError],
    ) -> Outcome:
        consumer, event, number = self.consumer, attempt.event, attempt.number
        delay = consumer.retry.next_delay(exc, number)
        if delay is not None:
            due = int((time.time() + delay) * 1_000_000)

            def later(tx: Tx) -> None:
                retry_schedule.schedule(
                    tx, consumer.group, consumer.name, event, number, due, errors
                )

            if not await self._settle(partition, later):
                return "abandoned"
            for scheduled in self.seam.retry:
                await scheduled(attempt, delay)
            return "retry"
        reason = (
            "permanent error"
            if isinstance(exc, Permanent)
            else f"gave up after {number} attempt(s)"
        )

        def bury(tx: Tx) -> None:
            retry_schedule.remove(tx, consumer.group, event)
            dead_letters.add(
                tx,
                consumer.group,
                consumer.name,
                event,
                reason,
                errors,
                integration=consumer.integration,
            )

        if not await self._settle(partition, bury):
            return "abandoned"
        log.warning(
            "dead-lettered event %s of %s for %s: %s", event.id, event.topic, consumer.name, reason
        )
        for observe in self.seam.dead_letter:
            await observe(attempt, reason)
        return "dead"

    def _complete(self, tx: Tx, event: Event, from_retry: bool) -> None:
        if from_retry:
            retry_schedule.remove(tx, self.consumer.group, event)
        if self.consumer.dedupe:
            tx.execute(
                "INSERT INTO completions (group_name, event_id, completed_at) VALUES (?, ?, ?)"
                " ON CONFLICT (group_name, event_id) DO NOTHING",
                (self.consumer.group, event.id, int(time.time() * 1_000_000)),
            )

    # -- retries -----------------------------------------------------------------------

    async def _retry_once(self) -> None:
        consumer = self.consumer
        await asyncio.sleep(self.worker.options.retry_poll)
        read_started = time.monotonic()
        due = await self.durably(
            functools.partial(
                retry_schedule.pending,
                group=consumer.group,
                topic=consumer.topic,
                partitions=sorted(self.partitions),
                due_before=int(time.time() * 1e6),
                limit=256,
            ),
            read=True,
        )
        for retry in due:
            worker = self.partitions.get(retry.event.partition or 0)
            offset = retry.event.offset or 0
            if worker is None or worker.retry_is_stale(offset, read_started):
                continue
            await self.slots.acquire()
            if worker.retry_is_stale(offset, read_started) or not worker.run_retry(
                self._retry_work(worker, retry), retry.event
            ):  # finished while we waited, or the partition is stopping
                self.slots.release()
        for worker in self.partitions.values():
            worker.forget_retries_before(read_started)

    def _retry_work(
        self, partition: PartitionWorker, retry: retry_schedule.PendingRetry
    ) -> Callable[[], Awaitable[Outcome]]:
        return lambda: self.deliver(
            partition, retry.event, retry.attempt, retry.errors, from_retry=True
        )

    # -- commits -----------------------------------------------------------------------

    async def _commit_once(self) -> None:
        await asyncio.sleep(self.worker.options.commit_interval)
        await self.commit()

    async def commit(self) -> None:
        async with self._commit_lock:
            workers = dict(self.partitions)
            moves = {
                p: (w.committed, w.watermark())
                for p, w in workers.items()
                if w.watermark() > w.committed
            }
            if not moves:
                return
            lost, moved = await self.worker.leases.commit(
                self.consumer.group, self.consumer.topic, moves
            )
            for partition, (_, offset) in moves.items():
                if partition not in lost | moved:
                    workers[partition].committed = offset
        async with self._assigning:
            for partition in sorted(lost):
                if self.partitions.get(partition) is workers[partition]:
                    log.warning("lost lease on %s/%d", self.consumer.topic, partition)
                    del self.partitions[partition]
                    workers[partition].lease_lost()
                    await self._retire(workers[partition], 0)
        await self._restart({p for p in moved if self.partitions.get(p) is workers[p]})

    async def sync_positions(self) -> None:
        """Notice positions moved by someone else (``artery replay``, ``groups reset``)
        while this consumer had nothing to commit, and continue from there."""
        async with self._commit_lock:
            positions = {
                p.partition: p.committed
                for p in await self.runtime.log.positions(self.consumer.group)
                if p.topic == self.consumer.topic
            }
            moved = {
                p
                for p, w in self.partitions.items()
                if positions.get(p, w.committed) != w.committed
            }
        await self._restart(moved)

    async def _restart(self, partitions: set[int]) -> None:
        async with self._assigning:
            for partition in sorted(partitions):
                worker = self.partitions.pop(partition, None)
                if worker is not None:
                    log.info(
                        "position of %s/%d was moved; continuing from it",
                        self.consumer.topic,
                        partition,
                    )
                    await self._retire(worker, self.worker.options.grace)
                    await self._take(partition, worker.lease_deadline)

    # -- store access ------------------------------------------------------------------

    async def durably(self, op: Callable[[Tx], T], *, read: bool = False) -> T:
        return await riding_out(self.runtime.store.read if read else self.runtime.store.write, op)
