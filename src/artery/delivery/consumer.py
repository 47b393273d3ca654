"""A consumer declaration and the context its handler receives.

A consumer is a handler bound to a contract's topic under a group; its policies (retry,
timeout, rate limit, breaker, concurrency, ordering, dedupe) are immutable values fixed at
declaration, so every worker process running the same code behaves the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from artery.delivery.breaker import BreakerPolicy
from artery.delivery.rate_limit import Limit
from artery.envelope import Event
from artery.retry import Retry

if TYPE_CHECKING:
    from artery.app import App

Handler = Callable[[Event, "DeliveryContext"], Awaitable[Any]]


@dataclass(frozen=True)
class Consumer:
    name: str
    topic: str
    group: str
    handler: Handler
    retry: Retry = field(default_factory=Retry)
    timeout: float | None = 30.0
    concurrency: int = 32
    ordered: bool = False
    dedupe: bool = False
    rate_limit: Limit | None = None
    breaker: str | None = None
    breaker_policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    start: str = "earliest"


@dataclass(frozen=True)
class DeliveryContext:
    """What a handler knows about this delivery.

    ``idempotency_key`` is stable per (group, event) across retries, restarts and
    redelivery: hand it to the partner so a repeated call has no second effect."""

    event: Event
    group: str
    consumer: str
    attempt: int
    app: App

    @property
    def idempotency_key(self) -> str:
        return f"{self.group}:{self.event.id}"
