"""The middleware stack of one consumer, built once from its declared policies.

The order is the order delivery has always had: the breaker's wait, then the rate limit's
(a call refused by an open breaker must not spend a cell), the call under the timeout. The
app's own middleware (tracing, metrics...) come after, inside the policies: they see the
attempts that passed the gates.
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.delivery.breaker import Breakers
from artery.delivery.consumer import Consumer
from artery.delivery.middleware.base import DeliverySeam, Middleware
from artery.delivery.middleware.breaker import BreakerMiddleware
from artery.delivery.middleware.rate_limit import RateLimitMiddleware
from artery.delivery.middleware.timeout import TimeoutMiddleware
from artery.delivery.rate_limit import RateLimiter

__all__ = ["policies", "seam_for"]


def policies(consumer: Consumer, breakers: Breakers, limiter: RateLimiter) -> list[Middleware]:
    """The middleware that enforce ``consumer``'s own policies, outermost first."""
    stack: list[Middleware] = []
    if consumer.breaker:
        stack.append(BreakerMiddleware(breakers.get(consumer.breaker, consumer.breaker_policy)))
    if consumer.rate_limit is not None:
        stack.append(RateLimitMiddleware(limiter, consumer.rate_limit))
    if consumer.timeout is not None:
        stack.append(TimeoutMiddleware(consumer.timeout))
    return stack


def seam_for(
    consumer: Consumer, breakers: Breakers, limiter: RateLimiter, extra: Sequence[Middleware]
) -> DeliverySeam:
    """``consumer``'s policies, then the app's middleware ``extra``."""
    return DeliverySeam([*policies(consumer, breakers, limiter), *extra])
