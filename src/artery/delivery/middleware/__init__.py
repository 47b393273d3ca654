"""Delivery middleware: what happens around every attempt to deliver an event (a circuit
breaker, a rate limit, a timeout; next tracing, metrics, audit), one file each, on the seam
of ``artery.middleware``.
"""

from artery.delivery.middleware.base import Attempt, DeliverySeam, Middleware
from artery.delivery.middleware.breaker import BreakerMiddleware
from artery.delivery.middleware.rate_limit import RateLimitMiddleware
from artery.delivery.middleware.stack import policies, seam_for
from artery.delivery.middleware.timeout import TimeoutMiddleware

__all__ = [
    "Attempt",
    "BreakerMiddleware",
    "DeliverySeam",
    "Middleware",
    "RateLimitMiddleware",
    "TimeoutMiddleware",
    "policies",
    "seam_for",
]
