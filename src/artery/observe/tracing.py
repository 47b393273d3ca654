"""Traces with OpenTelemetry: one trace from the inbound request or webhook, through the
append, the consumer or workflow step, to the outbound call.

The context travels as W3C Trace Context: in the envelope (``traceparent`` and
``tracestate``) between the append and the consumer, and in the headers of every outbound
HTTP call. Span names and attributes follow the OpenTelemetry semantic conventions:
messaging (``send {topic}``, ``process {topic}``; ``messaging.operation.type`` create,
send, process, settle; ``messaging.system`` ``artery``; destination, partition, consumer
group, message id) and HTTP (``{method} {http.route}``). A delivery of one event is
parented to the context it was published in; a replayed or redriven delivery starts a new
trace *linked* to it. Spans carry names and ids only, never payload values, so classified
fields cannot reach them.

Export: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set, spans go
to it over OTLP/HTTP, sampled as ``OTEL_TRACES_SAMPLER`` says (default: parent-based,
always on). Without an endpoint nothing is recorded (a recorded span costs ~25 µs here,
spent for nobody): the API's no-op tracer still passes the caller's context along, so a
trace continues through Artery to its partners (the gateway still gives its hop a new span
id). ``ARTERY_TRACING=false`` records nothing even with an endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SYSTEM = "artery"
_PROPAGATOR = TraceContextTextMapPropagator()
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """An app's tracer: recording and exporting when an exporter is configured (or a
    test gives ``processors``), propagating only otherwise, or nothing when disabled."""

    def __init__(
        self,
        service: str,
        *,
        enabled: bool = True,
        processors: Sequence[SpanProcessor] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.provider: TracerProvider | None = None
        self.recording = False
        if not enabled:
            self.tracer: Tracer = trace.NoOpTracer()
            return
        chosen = list(processors or ())
        if not chosen and any(env.get(name) for name in _ENDPOINTS):
            chosen.append(BatchSpanProcessor(_otlp_exporter()))
        if not chosen:
            self.tracer = trace.NoOpTracer()
            return
        self.recording = True
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        for processor in chosen:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("artery")

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def _otlp_exporter() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers and timeout from the OTEL_* variables


def extract(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context:
    """The context a ``traceparent`` (and ``tracestate``) carries; empty when absent or
    malformed (a new trace starts)."""
    found = span_context(traceparent, tracestate)
    if found is None:
        return otel_context.Context()
    return trace.set_span_in_context(NonRecordingSpan(found))


def span_context(traceparent: str | None, tracestate: str | None = None) -> SpanContext | None:
    """A W3C ``traceparent`` parsed as the propagator would (version 00 layout, lower-case
    hex, non-zero ids), at a fifth of its cost: it runs for every delivery. None when
    absent or malformed."""
    if not traceparent or len(traceparent) != 55 or traceparent != traceparent.lower():
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or parts[0] == "ff" or len(parts[0]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
        int(parts[0], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    return SpanContext(trace_id, span_id, True, TraceFlags(flags), state)


def attach_remote(traceparent: str | None, tracestate: str | None = None) -> object | None:
    """Make the context ``traceparent`` carries current, without a span of our own (when
    nothing records, this is all propagation needs); a token for ``detach``, or None."""
    found = span_context(traceparent, tracestate)
    if found is None:
        return None
    return otel_context.attach(trace.set_span_in_context(NonRecordingSpan(found)))


def inject(headers: MutableMapping[str, str], ctx: otel_context.Context | None = None) -> None:
    """Write the current (or ``ctx``'s) span as ``traceparent``/``tracestate`` headers."""
    _PROPAGATOR.inject(headers, context=ctx)


def carried(span: trace.Span) -> tuple[str | None, str | None]:
    """``span``'s context as (traceparent, tracestate) for an envelope; (None, None) for an
    invalid span (tracing off)."""
    found = span.get_span_context()
    if not found.is_valid:
        return None, None
    parent = f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"
    state = found.trace_state.to_header() if found.trace_state else None
    return parent, state or None


def link_to(traceparent: str | None, tracestate: str | None = None) -> list[Link]:
    """A link to the context an event was published in (for replays, redrives and
    batches, which start their own trace)."""
    found = trace.get_current_span(extract(traceparent, tracestate)).get_span_context()
    return [Link(found)] if found.is_valid else []


def messaging(
    operation: str, topic: str, *, kind: str | None = None, **more: Any
) -> dict[str, Any]:
    """Messaging attributes per the semantic conventions (``kind``: the operation type
    when it differs from the name, e.g. ``process`` for ``deliver``)."""
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": kind or operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": topic,
    }
    for key, value in more.items():
        if value is not None:
            attributes[f"messaging.{key.replace('__', '.')}"] = value
    return attributes


__all__ = [
    "SYSTEM",
    "SpanKind",
    "Tracing",
    "attach_remote",
    "carried",
    "extract",
    "inject",
    "link_to",
    "messaging",
    "span_context",
    "trace",
]
