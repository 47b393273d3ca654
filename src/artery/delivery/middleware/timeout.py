"""A per-attempt timeout as delivery middleware: the handler's call runs under the
consumer's deadline, and an overrun fails the attempt with ``TimeoutError`` (it follows the
retry policy). One watchdog loop per consumer enforces the deadlines
(``artery.delivery.timeouts``), far cheaper than a timer per delivery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from artery.delivery.middleware.base import Attempt, Loop, Middleware
from artery.delivery.timeouts import Deadlines

__all__ = ["TimeoutMiddleware"]

T = TypeVar("T")


class TimeoutMiddleware(Middleware):
    def __init__(self, seconds: float) -> None:
        self.deadlines = Deadlines(seconds)

    def around_attempt(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return self.deadlines.run(call)

    def loops(self) -> Mapping[str, Loop]:
        return {"timeouts": self.deadlines.tick}
