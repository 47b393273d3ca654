"""Merging concurrent appends into one write.

Group commit already shares one transaction (one fsync) among concurrent writers, but each
append would still run its own statements. Appends that arrive while earlier ones are
being written are queued here and written together: one offset update per partition and
one multi-row insert for all of them, so statements per event fall as concurrency rises.
If a merged write fails, each append is retried alone so that only the faulty one fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from artery.clock import now_us
from artery.envelope import Event
from artery.errors import StoreUnavailable
from artery.log.protocol import Record
from artery.store import Store, Tx

AppendFn = Callable[[Tx, str, Sequence[Record], int, int], list[Event]]


@dataclass(slots=True)
class _Pending:
    topic: str
    records: Sequence[Record]
    window_us: int
    future: asyncio.Future[list[Event]]


class AppendBatcher:
    def __init__(self, store: Store, append: AppendFn, *, max_in_flight: int = 2) -> None:
        self._store = store
        self._append = append
        self._queue: list[_Pending] = []
        self._in_flight = 0
        self._max_in_flight = max_in_flight
        self._flushes: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references

    async def append(self, topic: str, records: Sequence[Record], window_us: int) -> list[Event]:
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(topic, records, window_us, future))
        if self._in_flight < self._max_in_flight:
            self._in_flight += 1
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await future

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._write(batch, now_us())
        finally:
            self._in_flight -= 1

    async def _write(self, batch: list[_Pending], stamp: int) -> None:
        try:
            results = await self._store.write(lambda tx: self._merged(tx, batch, stamp))
        except StoreUnavailable as exc:  # alone, each would fail the same way
            for pending in batch:
                _fail(pending, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            await asyncio.gather(*(self._write([one], stamp) for one in batch))
            return
        except asyncio.CancelledError:
            for pending in batch:
                if not pending.future.done():
                    pending.future.cancel()
            raise
        for pending, events in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(events)

    def _merged(self, tx: Tx, batch: list[_Pending], stamp: int) -> list[list[Event]]:
        """One ``append`` per topic over every queued record, split back per caller."""
        by_topic: dict[tuple[str, int], list[_Pending]] = {}
        for pending in batch:
            by_topic.setdefault((pending.topic, pending.window_us), []).append(pending)
        placed: dict[int, list[Event]] = {}
        for (topic, window_us), group in by_topic.items():
            records = [r for pending in group for r in pending.records]
            events = self._append(tx, topic, records, stamp, window_us)
            start = 0
            for pending in group:
                placed[id(pending)] = events[start : start + len(pending.records)]
                start += len(pending.records)
        return [placed[id(pending)] for pending in batch]


def _fail(pending: _Pending, exc: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)
