"""A consumer declaration and the context its handler receives.

A consumer is a handler bound to a contract's topic under a group; its policies (retry,
timeout, rate limit, breaker, concurrency, ordering, dedupe) are immutable values fixed at
declaration, so every worker process running the same code behaves the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from artery.delivery.breaker import BreakerPolicy
from artery.delivery.rate_limit import Limit
from artery.envelope import Event
from artery.errors import ConfigError

if TYPE_CHECKING:
    from artery.publishing import Publish
from artery.retry import Retry

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
    integration: str | None = None  # the integration that declared it
    partner: str | None = None  # whom its handler calls (metrics and records name it)


class StartWorkflow(Protocol):
    async def __call__(
        self, name: str, input: Any = None, /, *, id: str | None = None, started_by: str = ...
    ) -> Any: ...


@dataclass(frozen=True)
class Effects:
    """What a handler may do beyond its partner call: publish events and start workflow
    runs. The app builds it once for its workers; tools that run no worker need none."""

    publish: Publish
    start_workflow: StartWorkflow


class DeliveryContext(NamedTuple):
    """What a handler knows about this delivery, and the effects it may have.

    ``idempotency_key`` is stable per (group, event) across retries, restarts and
    redelivery: hand it to the partner so a repeated call has no second effect.
    ``log`` is a logger that names the integration, group and event in every record.

    A named tuple, not a frozen dataclass: as immutable, and one is built for every
    delivery, where a frozen dataclass's field-by-field ``object.__setattr__`` showed up
    in profiles of the delivery benchmark's worker."""

    event: Event
    group: str
    consumer: str
    attempt: int
    effects: Effects
    integration: str | None = None

    @property
    def app(self) -> Any:
        """Gone: a handler gets what it needs here, not the whole app."""
        raise ConfigError(
            "a handler's context no longer holds the app",
            fix="use ctx.publish(...), ctx.start_workflow(...), ctx.idempotency_key, ctx.log",
        )

    @property
    def idempotency_key(self) -> str:
        return f"{self.group}:{self.event.id}"

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        return _HandlerLog(
            logging.getLogger(f"artery.handler.{self.integration or 'app'}"),
            {"group": self.group, "event_id": self.event.id, "attempt": self.attempt},
        )

    async def publish(self, target: Any, data: Any, **attrs: Any) -> Event:
        """Validate and append an event (see ``App.publish``)."""
        return await self.effects.publish(target, data, **attrs)

    async def start_workflow(
        self, name: str, input: Any = None, *, id: str | None = None, started_by: str = "handler"
    ) -> Any:
        """Start a workflow run (idempotent per ``id``); returns its handle."""
        return await self.effects.start_workflow(name, input, id=id, started_by=started_by)


class _HandlerLog(logging.LoggerAdapter[logging.Logger]):
    """``ctx.log``: the delivery's fields on every record, beside the handler's own
    ``extra=`` (a plain adapter would drop those)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**kwargs.get("extra", {}), **(self.extra or {})}
        return msg, kwargs
