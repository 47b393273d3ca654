"""What a log line is about: the context bound while a delivery or a request is handled.

Every line written inside a scope carries its fields, through ``ctx.log``, a module's
``logging`` logger or a structlog logger alike (``observe.logs`` merges them in with
``merge_scope``). A scope replaces the one around it whole, and is undone by its token
when it ends: nothing carries over to the next attempt, to a line written outside, or
from an enclosing request into a delivery. One context variable holds a scope's fields,
so entering one costs a single set, not one per field (this runs on every delivery).

- Deliveries: ``LogContext``, a delivery middleware, binds ``correlation_id``,
  ``trace_id``, ``integration``, ``event_id``, ``consumer``, ``group`` and ``attempt``
  around the handler's call, and the event's classified values for the redaction of
  every line (``observe.log_redaction``).
- HTTP: ``request_context(request_id, traceparent)`` binds ``request_id``, the
  ``correlation_id`` (the request id: it is the correlation id of every event the request
  publishes) and ``trace_id``, for the gateway's edge to enter around each request.

Fields bound with ``structlog.contextvars.bind_contextvars`` are merged too (after a
scope's own); unbinding those is the binder's job.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, TypeVar

from structlog.typing import EventDict

from artery.delivery.consumer import Consumer
from artery.delivery.middleware import Attempt, Middleware
from artery.envelope import Event
from artery.govern import topic_paths
from artery.log import EventLog
from artery.observe import log_redaction
from artery.observe.tracing import span_context

__all__ = [
    "LogContext",
    "PathsOf",
    "bound",
    "enter_request",
    "event_fields",
    "leave",
    "merge_scope",
    "request_context",
    "trace_id_of",
]

T = TypeVar("T")
PathsOf = Callable[[str | None], Awaitable[Collection[str] | None]]  # topic -> sensitive paths
_scope: ContextVar[Mapping[str, Any]] = ContextVar("artery_log_scope", default=MappingProxyType({}))


def merge_scope(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """The processor: the current scope's fields, under those the line gives itself."""
    for key, value in _scope.get().items():
        event_dict.setdefault(key, value)
    return event_dict


class _LazyScope(Mapping[str, Any]):
    """A scope's fields, computed only when a line is written (most deliveries and
    requests write none, and building the fields each time was most of the cost)."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, Any] | None = None

    def build(self) -> dict[str, Any]:
        raise NotImplementedError

    def _built(self) -> dict[str, Any]:
        if self.fields is None:
            self.fields = {k: v for k, v in self.build().items() if v is not None}
        return self.fields

    def __getitem__(self, key: str) -> Any:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


class _DeliveryScope(_LazyScope):
    __slots__ = ("attempt", "integration")

    def __init__(self, attempt: Attempt, integration: str | None) -> None:
        super().__init__()
        self.attempt = attempt
        self.integration = integration

    def build(self) -> dict[str, Any]:
        attempt = self.attempt
        found = event_fields(attempt.event)
        found.update(
            consumer=attempt.consumer,
            group=attempt.group,
            attempt=attempt.number,
            integration=self.integration,
        )
        return found


class LogContext(Middleware):
    """Binds a delivery's context around its handler (see the module docstring).

    ``integrations`` maps a consumer group to the integration that declared it;
    ``paths`` gives the sensitive paths of the contract a topic carries (None when it is
    unknown: then every value of the payload is kept out of the lines). If they cannot
    be learned (the store is down), every value is kept out too: the attempt goes on."""

    def __init__(
        self, integrations: Mapping[str, str | None], paths: PathsOf, *, ttl: float = 5.0
    ) -> None:
        self.integrations = dict(integrations)
        self.paths = paths
        self.ttl = ttl  # how long a topic's classified paths are reused (a new version
        # of its contract is seen within this)
        self._known: dict[str | None, tuple[float, Collection[str] | None]] = {}

    @classmethod
    def reading(cls, log: EventLog, consumers: Iterable[Consumer]) -> LogContext:
        """The middleware of a worker running ``consumers``, classification read from
        ``log``'s registry (cached there)."""
        integrations = {c.group: c.integration for c in consumers}
        return cls(integrations, functools.partial(topic_paths, log))

    def around_attempt(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return self._bound(attempt, call)

    async def _bound(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> T:
        event = attempt.event
        known = self._known.get(event.topic)
        if known is not None and time.monotonic() - known[0] < self.ttl:
            paths = known[1]
        else:
            paths = await self._paths(event.topic)
        scope = _scope.set(_DeliveryScope(attempt, self.integrations.get(attempt.group)))
        values = log_redaction.bind(event.data, paths)
        try:
            return await call()
        finally:
            log_redaction.unbind(values)
            _scope.reset(scope)

    async def _paths(self, topic: str | None) -> Collection[str] | None:
        try:
            found = await self.paths(topic)
        except Exception:  # nothing is known safe; the handler still runs (not cached)
            return None
        self._known[topic] = (time.monotonic(), found)
        return found


def event_fields(event: Event) -> dict[str, Any]:
    """The log fields an event names: its id, correlation id and trace id (None: unknown)."""
    return {
        "event_id": event.id,
        "correlation_id": event.correlationid,
        "trace_id": trace_id_of(event.traceparent),
    }


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent``, parsed as the tracing does (well formed or
    None)."""
    found = span_context(traceparent)
    return None if found is None else f"{found.trace_id:032x}"


def enter_request(request_id: str, traceparent: str | None) -> Token[Mapping[str, Any]]:
    """``request_context`` for the gateway's edge, without a context manager's cost per
    request: the fields are built only when a line is written; ``leave`` with the token."""
    return _scope.set(_RequestScope(request_id, traceparent))


def leave(token: Token[Mapping[str, Any]]) -> None:
    _scope.reset(token)


class _RequestScope(_LazyScope):
    __slots__ = ("request_id", "traceparent")

    def __init__(self, request_id: str, traceparent: str | None) -> None:
        super().__init__()
        self.request_id = request_id
        self.traceparent = traceparent

    def build(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "correlation_id": self.request_id,
            "trace_id": trace_id_of(self.traceparent),
        }


@contextlib.contextmanager
def request_context(request_id: str, traceparent: str | None, **more: Any) -> Iterator[None]:
    """While inside, lines carry ``request_id``, ``correlation_id`` (the same id) and the
    ``trace_id`` of ``traceparent``, plus ``more`` (e.g. ``integration=`` for a webhook
    source's requests)."""
    fields = {"request_id": request_id, "correlation_id": request_id, **more}
    with bound(trace_id=trace_id_of(traceparent), **fields):
        yield


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """A scope of ``fields`` (None: unknown, left out) for the lines written inside."""
    token = _scope.set({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _scope.reset(token)
