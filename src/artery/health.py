"""Whether this process's background loops are working.

A background loop (claiming workflow runs, renewing leases, firing schedules, sweeping
retention, delivering events) must never die silently: when an iteration fails it logs the
error once per streak of failures, backs off, tries again, and the process reports itself
unhealthy until an iteration succeeds. ``Health`` is that report; ``/readyz`` and
``artery status`` read it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from artery.errors import ArteryError


@dataclass
class Failure:
    """A loop's current streak of failed iterations."""

    loop: str
    since: float
    count: int
    error: str  # the error's type and, for Artery's own errors, its message (never payloads)


class Health:
    """The failing loops of one process; healthy when there are none."""

    def __init__(self) -> None:
        self._failing: dict[str, Failure] = {}

    @property
    def healthy(self) -> bool:
        return not self._failing

    def failures(self) -> list[Failure]:
        return sorted(self._failing.values(), key=lambda f: f.since)

    def failed(self, loop: str, exc: BaseException) -> Failure:
        failure = self._failing.get(loop)
        if failure is None:
            failure = self._failing[loop] = Failure(loop, time.time(), 0, "")
        failure.count += 1
        failure.error = describe(exc)
        return failure

    def recovered(self, loop: str) -> None:
        self._failing.pop(loop, None)

    def guard(
        self, loop: str, logger: logging.Logger, *, base: float = 0.5, cap: float = 30.0
    ) -> LoopGuard:
        return LoopGuard(self, loop, logger, base=base, cap=cap)


def describe(exc: BaseException) -> str:
    """Say what failed without quoting data: driver and library messages may carry payload
    values, Artery's own messages never do."""
    if isinstance(exc, ArteryError):
        return f"{exc.code}: {exc.message}"
    return type(exc).__name__


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log where ``exc`` was raised and what it is, but not its message when the error is
    not Artery's own: driver messages quote row data ("Failing row contains ..."), and
    handler messages quote payloads."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in frames)
    logger.error("%s (%s)\n%s", what, describe(exc), where)


class LoopGuard:
    """One loop's side of ``Health``: call ``ok()`` after an iteration that worked and
    ``await failed(exc)`` after one that raised; it logs the first failure of a streak (and
    the recovery), marks the process unhealthy, and sleeps a jittered, growing backoff."""

    def __init__(
        self, health: Health, loop: str, logger: logging.Logger, *, base: float, cap: float
    ) -> None:
        self.health = health
        self.loop = loop
        self.logger = logger
        self.base = base
        self.cap = cap
        self._streak = 0

    def ok(self) -> None:
        if self._streak:
            self.logger.warning("%s recovered after %d failed attempts", self.loop, self._streak)
            self._streak = 0
            self.health.recovered(self.loop)

    async def failed(self, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        self._streak += 1
        self.health.failed(self.loop, exc)
        if self._streak == 1:
            log_failure(
                self.logger, f"{self.loop} failed; retrying with backoff until it works", exc
            )
        await asyncio.sleep(self.delay())

    async def run(self, iteration: Callable[[], Awaitable[object]]) -> None:
        """Run ``iteration`` until cancelled, reporting each failure instead of ending: the
        shape of every background loop. A loop that ends (its service stopped) is no longer
        failing, so its streak is cleared rather than leaving the process unhealthy."""
        try:
            while True:
                try:
                    await iteration()
                except Exception as exc:
                    await self.failed(exc)
                else:
                    self.ok()
        finally:
            self.health.recovered(self.loop)

    def delay(self) -> float:
        """Full jitter under an exponential cap, so many loops don't retry in step."""
        ceiling: float = min(self.cap, self.base * 2.0 ** min(self._streak - 1, 16))
        return ceiling * (0.5 + random.random() / 2)
