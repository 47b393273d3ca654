"""A named rate limit as delivery middleware: each attempt takes one cell of the limit
first, waiting for it, so every consumer and process calling one partner shares its
budget. Retries take cells too: the partner counts every call. The limiter itself (GCRA in
the store) is ``artery.delivery.rate_limit``.
"""

from __future__ import annotations

from artery.delivery.middleware.base import Attempt, Middleware
from artery.delivery.rate_limit import Limit, RateLimiter

__all__ = ["RateLimitMiddleware"]


class RateLimitMiddleware(Middleware):
    def __init__(self, limiter: RateLimiter, limit: Limit) -> None:
        self.limiter = limiter
        self.limit = limit

    async def before_attempt(self, attempt: Attempt) -> None:
        await self.limiter.acquire(self.limit)
