"""Per-attempt handler timeouts for one consumer (the mechanism behind
``delivery.middleware.timeout``).

One watchdog per consumer checks every running attempt's deadline each ``TICK``: far
cheaper than a timer per delivery, at the price of ``TICK`` precision. An overrun attempt
is cancelled, and that cancellation surfaces in the attempt as a ``TimeoutError`` (the
attempt failed and follows the retry policy); any other cancellation (shutdown, a lost
lease) passes through unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
TICK = 0.05  # how often deadlines are checked


class Deadlines:
    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await ``call()`` under the timeout, in the current task."""
        task = asyncio.current_task()
        if self.timeout is None or task is None:
            return await call()
        self._deadlines[task] = time.monotonic() + self.timeout
        try:
            return await call()
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # shutdown or a lost lease, not a timeout
            task.uncancel()
            raise TimeoutError(f"handler timed out after {self.timeout}s") from None
        finally:
            self._deadlines.pop(task, None)
            self._expired.discard(task)

    async def tick(self) -> None:
        """One round of the watchdog: cancel the attempts past their deadline."""
        await asyncio.sleep(TICK)
        now = time.monotonic()
        for task, deadline in list(self._deadlines.items()):
            if now >= deadline and task not in self._expired:
                self._expired.add(task)
                task.cancel(msg="handler timed out")
