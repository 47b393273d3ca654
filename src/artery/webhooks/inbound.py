"""Serving a webhook source: verify, map, validate, publish; answer only once the event is
durably appended.

Per call, in order: a body over the source's ``max_body`` is a 413 before it is read whole;
the signature is checked over the raw bytes (401: missing, wrong or stale); the body must
be JSON (400); the mapping turns it into the canonical event (422 naming the expression);
the log validates it against the contract (422 with JSON pointers, no values) and appends
it, deduplicated by the sender's delivery id: a repeated delivery is a 200 that says
``"duplicate": true`` and stores nothing. Every outcome is an authorization decision
(``subject: source:<name>``) and, when refused, a rejection in the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from artery import ids
from artery.errors import ArteryError, ContractViolation, PayloadTooLarge
from artery.gateway.api import MalformedBody, scrubbed
from artery.gateway.gate import Decision, Decisions, request_id
from artery.govern import secrets
from artery.observe.metrics import Metrics
from artery.publishing import Publisher
from artery.webhooks.ledger import Ledger, Rejection
from artery.webhooks.schemes import SignatureRefused
from artery.webhooks.sources import Source


class SourceEndpoint:
    """One source's ASGI endpoint (POST only, routed by its path)."""

    def __init__(
        self,
        source: Source,
        publisher: Publisher,
        ledger: Ledger,
        decisions: Decisions,
        *,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.secrets = secrets.resolve(source.secret)  # a missing secret fails the start
        self.publisher = publisher
        self.ledger = ledger
        self.decisions = decisions
        self.clock = clock
        self.key = f"POST {source.path}"
        self.subject = f"source:{source.name}"
        self.credential = f"signature:{source.scheme.name}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        state["route"], state["client"] = self.key, self.subject  # for metrics and spans
        # Plain ASGI, not Starlette's Request/Response: a source is the busiest route a
        # gateway serves, and the two objects were a tenth of its CPU (bench/webhooks.py).
        try:
            status, answer = await self.handle(scope, receive)
        except ArteryError as exc:
            self.refuse(Request(scope), exc)
            raise
        body = orjson.dumps(answer)
        headers = [*_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        body = await self.body(scope, receive, headers.get("content-length"))
        verified = self.source.scheme.verify(headers, body, self.secrets, self.clock())
        self.decide(scope, True, "signature verified")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(
                f"the webhook body is not JSON (line {exc.lineno}, column {exc.colno})",
                fix="the sender must post a JSON body to this source",
            ) from None
        delivery = verified.delivery_id or self.source.scheme.delivery_id(headers, payload)
        mapped = self.source.mapping(payload, headers)
        return await self.publish(scope, mapped, delivery)

    async def body(self, scope: Scope, receive: Receive, length: str | None) -> bytes:
        """The raw body, refused (413) once it is over the limit, declared or streamed."""
        limit = self.source.max_body
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        scope.setdefault("state", {})["webhook_body"] = body  # for a rejection's shape
        return body

    async def publish(
        self, scope: Scope, mapped: Any, delivery: str | None
    ) -> tuple[int, dict[str, Any]]:
        fresh = ids.uuid4()
        dedupe = f"webhook:{self.source.name}:{delivery}" if delivery else None
        state = scope.get("state", {})
        try:
            event = await self.publisher.publish(
                self.source.emits,
                mapped,
                idempotency_key=dedupe,
                correlation_id=state.get("request_id"),
                traceparent=state.get("traceparent"),
                id=fresh,
            )
        except ContractViolation as exc:
            raise scrubbed(exc, mapped) from None
        self.ledger.accepted(self.source.name)
        self._count("duplicate" if event.id != fresh else "accepted")
        return 200, {"id": event.id, "topic": event.topic, "duplicate": event.id != fresh}

    def _count(self, outcome: str, reason: str | None = None) -> None:
        m, found = self.metrics, self.source
        if m is None:
            return
        integration = found.integration or "none"
        m.child(m.ingested, integration, found.name, found.subject, outcome).inc()
        if reason is not None:
            m.child(m.rejections, found.name, reason).inc()

    def refuse(self, request: Request, exc: ArteryError) -> None:
        reason = exc.reason if isinstance(exc, SignatureRefused) else exc.code.split(".")[-1]
        self._count("rejected", reason)
        if isinstance(exc, SignatureRefused | PayloadTooLarge):
            self.decide(request.scope, False, exc.message)
        self.ledger.rejected(
            Rejection(
                source=self.source.name,
                at_us=self.ledger.now_us(),
                reason=reason,
                status=exc.http_status,
                detail=exc.message,
                request_id=request_id(request),
                headers=request.headers,
                body=request.scope.get("state", {}).get("webhook_body", b""),
            )
        )

    def decide(self, scope: Scope, allowed: bool, reason: str) -> None:
        found = scope.get("state", {}).get("request_id")
        self.decisions.record(
            Decision(
                at_us=time.time_ns() // 1000,
                subject=self.subject,
                credential=self.credential,
                method=scope["method"],
                path=scope["path"],
                route=self.key,
                scopes=(),
                allowed=allowed,
                reason=reason,
                request_id=found if isinstance(found, str) else None,
            )
        )


_JSON = [(b"content-type", b"application/json")]


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the webhook body is over this source's {limit} bytes",
        fix="the sender must send smaller calls, or the source a larger max_body",
    )


def routes(
    sources: Sequence[Source],
    publisher: Publisher,
    ledger: Ledger,
    decisions: Decisions,
    *,
    clock: Callable[[], float] = time.time,
    metrics: Metrics | None = None,
) -> list[BaseRoute]:
    """One POST route per source."""
    return [
        Route(
            found.path,
            SourceEndpoint(found, publisher, ledger, decisions, clock=clock, metrics=metrics),
            methods=["POST"],
        )
        for found in sources
    ]


__all__ = ["SourceEndpoint", "routes"]
