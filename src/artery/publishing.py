"""Publishing declared events: building the envelope and appending it to the contract's
topic. One place, used by ``App.publish``, workflow steps and handlers' ``ctx.publish``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from artery.envelope import Event, new_id
from artery.integration import Contract, resolve, topic_of
from artery.log import EventLog
from artery.observe import tracing
from artery.observe.metrics import Metrics
from artery.observe.tracing import Tracing


class Publish(Protocol):
    """How a component publishes without holding the app: ``Publisher.publish``."""

    async def __call__(self, target: Any, data: Any, /, **attrs: Any) -> Event: ...


def envelope(
    source: str,
    target: Contract | str,
    data: Any,
    *,
    key: str | None = None,
    idempotency_key: str | None = None,
    subject: str | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
    id: str | None = None,
) -> Event:
    """The envelope ``publish`` would store (type = the contract's subject); ``id`` is new
    unless given (a caller that must tell its event from a deduplicated one gives it)."""
    return Event(
        id=id or new_id(),
        type=target.subject if isinstance(target, Contract) else target,
        source=f"artery://{source}",
        data=data,
        subject=subject,
        partitionkey=key,
        idempotencykey=idempotency_key,
        correlationid=correlation_id,
        traceparent=traceparent,
        tracestate=tracestate,
    )


class Publisher:
    """Publishes as ``artery://<source>``; ``contracts`` maps declared subjects to their
    contracts, so a subject names its topic."""

    def __init__(
        self,
        log: EventLog,
        source: str,
        contracts: Mapping[str, Contract],
        *,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ):
        self.log = log
        self.source = source
        self.contracts = dict(contracts)  # as declared when the app started
        self.metrics = metrics
        chosen = tracing or Tracing(source, enabled=False)
        self.tracer, self.recording = chosen.tracer, chosen.recording

    async def publish(self, target: Contract | str, data: Any, /, **attrs: Any) -> Event:
        """Validate and append one event; returns it with its topic, partition and offset.

        With ``idempotency_key``, publishing the same key again within the dedupe window
        returns the event stored the first time instead of storing a second one."""
        declared = resolve(self.contracts, target)
        topic = topic_of(declared)
        given = attrs.pop("traceparent", None), attrs.pop("tracestate", None)
        if not self.recording:  # no span: the given context, else the current one, travels
            if given[0] is None:
                given = tracing.carried(tracing.trace.get_current_span())
            event = envelope(
                self.source, declared, data, traceparent=given[0], tracestate=given[1], **attrs
            )
            return await self._append(declared, topic, event)
        parent = tracing.extract(*given) if given[0] else None  # else: the current span
        with self.tracer.start_as_current_span(
            f"send {topic}",
            context=parent,
            kind=tracing.SpanKind.PRODUCER,
            attributes=tracing.messaging("send", topic),
        ) as span:
            traceparent, tracestate = tracing.carried(span)
            if traceparent is None:  # tracing off: the caller's context travels as it is
                traceparent, tracestate = given
            event = envelope(
                self.source, declared, data, traceparent=traceparent, tracestate=tracestate, **attrs
            )
            span.set_attribute("messaging.message.id", event.id)
            return await self._append(declared, topic, event)

    async def _append(self, declared: Contract | str, topic: str, event: Event) -> Event:
        carried = (await self.log.topic(topic)).subject
        if event.type != carried:  # named by its topic: it follows the topic's contract
            event = dataclasses.replace(event, type=carried)
        (stored,) = await self.log.append(topic, [event])
        self._count(declared, stored.type, 1)
        return stored

    async def publish_many(self, target: Contract | str, events: Sequence[Event]) -> list[Event]:
        """Append a batch atomically: every event is stored, or (one invalid) none is.

        Each event's ``type`` must be the contract the topic carries (``app.event`` builds
        them so); a mismatch is refused rather than stored under a contract it does not
        claim. The batch is one ``send`` span; events without a trace context of their own
        carry it."""
        declared = resolve(self.contracts, target)
        topic = topic_of(declared)
        with self.tracer.start_as_current_span(
            f"send {topic}",
            kind=tracing.SpanKind.PRODUCER,
            attributes=tracing.messaging("send", topic, batch__message_count=len(events)),
        ) as span:
            traceparent, tracestate = tracing.carried(span)
            if traceparent is not None:
                events = [
                    e
                    if e.traceparent
                    else dataclasses.replace(e, traceparent=traceparent, tracestate=tracestate)
                    for e in events
                ]
            stored = await self.log.append(topic, events)
        if stored:
            self._count(declared, stored[0].type, len(stored))
        return stored

    def _count(self, declared: Contract | str, event_type: str, n: int) -> None:
        if self.metrics is not None:
            owner = (declared.integration if isinstance(declared, Contract) else None) or "none"
            self.metrics.child(self.metrics.published, owner, event_type).inc(n)
