"""Outbound HTTP carries the trace: every call through the guarded client (webhook
deliveries, the strangler's forwarding) gets the current context as W3C ``traceparent``
and ``tracestate`` headers, so the partner's own spans join the trace; when spans are
recorded, the call is a client span named by its method (HTTP conventions), with the
host, port and status, never the query string or body."""

from __future__ import annotations

import httpx
from opentelemetry import trace

from artery.observe import tracing
from artery.observe.tracing import SpanKind, Tracing


class TracedTransport(httpx.AsyncBaseTransport):
    """Wraps the transport a client sends through (outside the address guard, so the span
    covers its DNS check too)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tracing_: Tracing) -> None:
        self.inner = inner
        self.tracer = tracing_.tracer
        self.recording = tracing_.recording

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.recording:
            tracing.inject(request.headers)
            return await self.inner.handle_async_request(request)
        url = request.url
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.scheme": url.scheme,
            "url.path": url.path,
        }
        with self.tracer.start_as_current_span(
            request.method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            tracing.inject(request.headers)
            try:
                response = await self.inner.handle_async_request(request)
            except BaseException as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return response

    async def aclose(self) -> None:
        await self.inner.aclose()


__all__ = ["TracedTransport"]
