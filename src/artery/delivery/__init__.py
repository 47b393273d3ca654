"""The delivery engine: consumers that survive partial failure.

At-least-once delivery with durable retries (exponential backoff with jitter), per-attempt
timeouts, idempotency keys and optional dedupe, dead letters with redrive, shared rate
limits, circuit breakers, and partitions leased across worker processes.
"""

from artery.delivery.breaker import BreakerPolicy, BreakerState
from artery.delivery.consumer import Consumer, DeliveryContext
from artery.delivery.dead_letters import DeadLetter, DeadLetters, Filter
from artery.delivery.rate_limit import Limit
from artery.delivery.worker import Worker
from artery.retry import Permanent, Retry, RetryLater

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "Consumer",
    "DeadLetter",
    "DeadLetters",
    "DeliveryContext",
    "Filter",
    "Limit",
    "Permanent",
    "Retry",
    "RetryLater",
    "Worker",
]
