"""A circuit breaker as delivery middleware: attempts wait while the partner's breaker is
open (they do not burn attempts), and each outcome is recorded on it.

``Permanent`` failures are not recorded: the handler judged the event, not the partner.
The breaker itself (states, window, persistence) is ``artery.delivery.breaker``.
"""

from __future__ import annotations

from artery.delivery.breaker import CircuitBreaker
from artery.delivery.middleware.base import Attempt, Middleware
from artery.retry import Permanent

__all__ = ["BreakerMiddleware"]


class BreakerMiddleware(Middleware):
    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker

    async def before_attempt(self, attempt: Attempt) -> None:
        await self.breaker.wait_until_allowed()

    async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
        if error is None:
            self.breaker.record_success()
        elif not isinstance(error, Permanent):
            self.breaker.record_failure()
