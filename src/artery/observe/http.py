"""Every gateway request counted and traced, as the outermost ASGI layer.

Counted: ``artery_http_requests_total{route, client, status}`` and the duration histogram,
where ``route`` is the route's template as the gate names it (``POST /api/orders``), never
the raw path (which may hold ids), ``client`` the credential's subject (an API key's name,
a token's ``sub``, ``source:<name>`` for a webhook) or ``anonymous``, and ``status`` the
answer's code. Traced, when spans are recorded: one server span per request, named
``{method} {http.route}``, continuing the caller's ``traceparent``; its context is what
the edge hands the routes (``scope["state"]["traceparent"]``), so events published while
handling the request are its children, and outbound calls carry it.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artery.observe import tracing
from artery.observe.metrics import Metrics
from artery.observe.tracing import SpanKind, Tracing

UNMATCHED = "unmatched"  # the route label of a request no route took (404, 405, refusals)


class Observed:
    """``app`` with its requests counted (``metrics``) and traced (``tracing``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None, tracing_: Tracing) -> None:
        self.app = app
        self.metrics = metrics
        self.recording = tracing_.recording
        self.tracer = tracing_.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.metrics is None and not self.recording):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the caller got if the app raised before answering

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span, token = self._start(scope) if self.recording else (None, None)
        try:
            await self.app(scope, receive, sent)
        finally:
            state = scope.get("state") or {}
            route = state.get("route") or UNMATCHED
            if span is not None:
                _finish(span, scope["method"], route, status)
            if token is not None:
                otel_context.detach(token)
            if self.metrics is not None:
                self._count(route, _client(state), status, time.perf_counter() - began)

    def _start(self, scope: Scope) -> tuple[trace.Span, Any]:
        given = _trace_headers(scope["headers"])
        parent = tracing.extract(*given)
        method = scope["method"]
        span = self.tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        )
        traceparent, tracestate = tracing.carried(span)
        scope["state"] = {
            **(scope.get("state") or {}),
            "traceparent": traceparent,
            "tracestate": tracestate,
        }
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    def _count(self, route: str, client: str, status: int, seconds: float) -> None:
        m = self.metrics
        assert m is not None
        m.child(m.http_requests, route, client, str(status)).inc()
        m.child(m.http_duration, route).observe(seconds)


def _finish(span: trace.Span, method: str, route: str, status: int) -> None:
    if route != UNMATCHED:
        template = route.split(" ", 1)[-1]
        span.update_name(f"{method} {template}")
        span.set_attribute("http.route", template)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.StatusCode.ERROR)
    span.end()


def _client(state: dict[str, Any]) -> str:
    principal = state.get("principal")
    if principal is not None:
        return str(principal.subject)
    found = state.get("client")
    return found if isinstance(found, str) else "anonymous"


def _trace_headers(raw: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    parent = state = None
    for name, value in raw:
        if name == b"traceparent" and parent is None:
            parent = value.decode("latin-1")
        elif name == b"tracestate" and state is None:
            state = value.decode("latin-1")
    return parent, state


__all__ = ["UNMATCHED", "Observed"]
