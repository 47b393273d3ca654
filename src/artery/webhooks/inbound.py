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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from artery import ids
from artery.errors import ArteryError, ContractViolation, PayloadTooLarge
from artery.gateway.api import MalformedBody, scrubbed
from artery.gateway.gate import Decision, Decisions, request_id
from artery.govern import secrets
from artery.publishing import Publisher
from artery.webhooks.ledger import Ledger, Rejection, redacted_headers, shape
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
    ) -> None:
        self.source = source
        self.secrets = secrets.resolve(source.secret)  # a missing secret fails the start
        self.publisher = publisher
        self.ledger = ledger
        self.decisions = decisions
        self.clock = clock
        self.key = f"POST {source.path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.handle(request)
        except ArteryError as exc:
            self.refuse(request, exc)
            raise
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        body = await self.body(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = self.source.scheme.verify(headers, body, self.secrets, self.clock())
        self.decide(request, True, "signature verified")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(
                f"the webhook body is not JSON (line {exc.lineno}, column {exc.colno})",
                fix="the sender must post a JSON body to this source",
            ) from None
        delivery = verified.delivery_id or self.source.scheme.delivery_id(headers, payload)
        mapped = self.source.mapping(payload, headers)
        return await self.publish(request, mapped, delivery)

    async def body(self, request: Request) -> bytes:
        """The raw body, refused (413) once it is over the limit, declared or streamed."""
        limit = self.source.max_body
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        body = b"".join(chunks)
        request.scope.setdefault("state", {})["webhook_body"] = body  # for a rejection's shape
        return body

    async def publish(self, request: Request, mapped: Any, delivery: str | None) -> Response:
        fresh = ids.uuid4()
        dedupe = f"webhook:{self.source.name}:{delivery}" if delivery else None
        state = request.scope.get("state", {})
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
        duplicate = event.id != fresh
        return JSONResponse(
            {"id": event.id, "topic": event.topic, "duplicate": duplicate}, status_code=200
        )

    def refuse(self, request: Request, exc: ArteryError) -> None:
        reason = exc.reason if isinstance(exc, SignatureRefused) else exc.code.split(".")[-1]
        if isinstance(exc, SignatureRefused | PayloadTooLarge):
            self.decide(request, False, exc.message)
        self.ledger.rejected(
            Rejection(
                source=self.source.name,
                at_us=self.ledger.now_us(),
                reason=reason,
                status=exc.http_status,
                detail=exc.message,
                request_id=request_id(request),
                headers=redacted_headers(request.headers),
                body=shape(request.scope.get("state", {}).get("webhook_body", b"")),
            )
        )

    def decide(self, request: Request, allowed: bool, reason: str) -> None:
        self.decisions.record(
            Decision(
                at_us=time.time_ns() // 1000,
                subject=f"source:{self.source.name}",
                credential=f"signature:{self.source.scheme.name}",
                method=request.method,
                path=request.url.path,
                route=self.key,
                scopes=(),
                allowed=allowed,
                reason=reason,
                request_id=request_id(request),
            )
        )


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
) -> list[BaseRoute]:
    """One POST route per source."""
    return [
        Route(
            found.path,
            SourceEndpoint(found, publisher, ledger, decisions, clock=clock),
            methods=["POST"],
        )
        for found in sources
    ]


__all__ = ["SourceEndpoint", "routes"]
