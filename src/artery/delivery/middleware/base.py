"""The delivery side of the seam (see ``artery.middleware``): what an attempt to deliver an
event is, and the hooks a delivery middleware may add to the shared ones.

The runner drives the hooks in a fixed order, the one delivery has always had: every
``before_attempt`` (a breaker's wait, then a rate limit's), the check that the partition's
lease is still ours, the handler's call inside every ``around_attempt`` (the timeout), then
every ``after_attempt`` (the breaker's record), then ``after_retry`` once a failed event's
retry is scheduled or ``after_dead_letter`` once it is buried. An attempt abandoned at
the lease check (the partition changed hands while its gates waited) reaches no later
hook: its next owner delivers the event again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple

from artery import middleware
from artery.envelope import Event
from artery.middleware import guarded, overrides

__all__ = ["Attempt", "DeliverySeam", "Loop", "Middleware"]

Loop = Callable[[], Awaitable[None]]  # one iteration of a background loop


class Attempt(NamedTuple):
    """One attempt to deliver ``event`` to a consumer of ``group``; ``number`` counts from 1
    across retries and restarts; ``began`` is ``time.monotonic()`` before its gates.

    A named tuple, not a frozen dataclass: as immutable, and cheaper to build, which counts
    on the hot path (one per delivery)."""

    event: Event
    group: str
    consumer: str
    number: int
    from_retry: bool
    began: float


class Middleware(middleware.Middleware[Attempt]):
    """No-op delivery hooks; override the ones you need (see ``artery.middleware``)."""

    async def after_retry(self, attempt: Attempt, delay: float) -> None:
        """Runs once the failed event of ``attempt`` is durably scheduled to be tried again
        in ``delay`` seconds; an observer, like ``after_attempt``."""

    async def after_dead_letter(self, attempt: Attempt, reason: str) -> None:
        """Runs once the event of ``attempt`` (its last) is durably in the dead letters;
        an observer, like ``after_attempt``."""

    def loops(self) -> Mapping[str, Loop]:
        """Background work this middleware needs while its consumer runs, by name: each
        iteration is run again and again under the runner's health guard."""
        return {}


class DeliverySeam(middleware.Seam[Attempt]):
    """The hooks of one consumer's stack, sorted once when its runner is built."""

    def __init__(self, stack: Sequence[Middleware]) -> None:
        super().__init__(stack)
        self.retry: tuple[Callable[[Attempt, float], Awaitable[None]], ...] = tuple(
            guarded(m, m.after_retry)
            for m in reversed(stack)
            if overrides(m, Middleware, "after_retry")
        )
        self.dead_letter: tuple[Callable[[Attempt, str], Awaitable[None]], ...] = tuple(
            guarded(m, m.after_dead_letter)
            for m in reversed(stack)
            if overrides(m, Middleware, "after_dead_letter")
        )
        self.loops: dict[str, Loop] = {}
        for m in stack:
            self.loops.update(m.loops())
