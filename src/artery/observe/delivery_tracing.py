"""A span around every delivery attempt, as delivery middleware: ``process {topic}``
(``messaging.operation.type`` process), a consumer span in the trace the event was
published in, so what the handler publishes or calls continues that trace.

A redriven dead letter or a replay to a destination (scheduled by a person: a first
attempt that comes from the retry schedule) starts a new trace *linked* to the original
context instead, as the messaging conventions ask for deliveries that are not the
original flow. Exceptions are recorded by type only: their messages may quote payloads.
Without recording (no exporter) the tracer is the API's no-op one: the span is the event's
own context made current, which is all propagation needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from artery.delivery.middleware import Attempt, Middleware
from artery.observe import tracing

T = TypeVar("T")

__all__ = ["DeliveryTracing"]


class DeliveryTracing(Middleware):
    def __init__(self, tracing_: tracing.Tracing) -> None:
        self.tracer = tracing_.tracer
        self.recording = tracing_.recording

    def around_attempt(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        if not self.recording:
            if attempt.event.traceparent is None:  # no context to carry: no wrapper at all
                return call()
            return self._carried(attempt, call)
        return self._traced(attempt, call)

    async def _carried(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> T:
        """No span: the event's context made current, for what the handler publishes or
        calls (a redelivery scheduled by hand carries it too: only a recorded span links)."""
        token = tracing.attach_remote(attempt.event.traceparent, attempt.event.tracestate)
        try:
            return await call()
        finally:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]

    async def _traced(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> T:
        event = attempt.event
        topic = event.topic or event.type
        scheduled_by_hand = attempt.from_retry and attempt.number == 1
        parent = tracing.extract(event.traceparent, event.tracestate)
        links = None
        if scheduled_by_hand:
            links = tracing.link_to(event.traceparent, event.tracestate)
            parent = otel_context.Context()
        attributes = tracing.messaging(
            "process",
            topic,
            destination__partition__id=None if event.partition is None else str(event.partition),
            consumer__group__name=attempt.group,
            message__id=event.id,
        )
        with self.tracer.start_as_current_span(
            f"process {topic}",
            context=parent,
            kind=tracing.SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if span.is_recording():
                span.set_attribute("artery.delivery.attempt", attempt.number)
            try:
                return await call()
            except BaseException as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise
