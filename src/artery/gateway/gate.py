"""The gate: the one place a route's ``Policy`` is enforced, in the same order for every
route (an integration's, the admin API's, the front door's own).

Per request: authenticate (401), authorize the route's scopes (403), record the decision
either way, take a cell of the client's rate limit on the route (429), refuse a body of
the wrong media type (415) or over the size limit (413, before it is read whole), then run
the endpoint within the route's timeout (504) and add the rate-limit and deprecation
headers to its answer. Each step is a small protocol so its backing (API keys, tokens,
store-backed GCRA) is chosen once, in ``front.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from artery.errors import (
    Forbidden,
    GatewayTimeout,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from artery.gateway.policy import Deprecation, Policy, Principal, Quota

Endpoint = Callable[[Request], Awaitable[Response]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Decision:
    """One authorization decision, allowed or refused: who, with which credential, what,
    when, and why. ``subject``/``credential`` are None when no credential was valid."""

    at_us: int
    subject: str | None
    credential: str | None
    method: str
    path: str
    route: str
    scopes: tuple[str, ...]
    allowed: bool
    reason: str
    request_id: str | None


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> Principal:
        """The caller proven by the request's credential; raises ``Unauthenticated`` (with
        an RFC 6750 ``WWW-Authenticate`` header) when there is none or it is not valid."""
        ...


class Decisions(Protocol):
    def record(self, decision: Decision) -> None:
        """Keep ``decision`` (buffered; written to the store shortly after, never lost to
        a slow store: the buffer is bounded and overflow is counted and logged)."""
        ...


class Throttle(Protocol):
    async def take(self, client: str, route: str, quota: Quota) -> Mapping[str, str]:
        """Take one request of ``client``'s quota on ``route``: the ``RateLimit-Policy``
        and ``RateLimit`` headers on success; raises ``TooManyRequests`` (with those and
        ``Retry-After``) when the quota is spent."""
        ...


class DeprecatedCalls(Protocol):
    def called(self, route: str, client: str) -> None:
        """Count one call of a deprecated route by ``client`` (buffered)."""
        ...

    def headers(self, deprecation: Deprecation) -> Mapping[str, str]:
        """``Deprecation``, ``Sunset`` and ``Link: rel="successor-version"``."""
        ...


def request_id(request: Request) -> str | None:
    """The correlation id the edge middleware gave the request (``X-Request-Id``)."""
    found = request.scope.get("state", {}).get("request_id")
    return found if isinstance(found, str) else None


class Gate:
    """Applies policies; built once per HTTP server from its parts."""

    def __init__(
        self,
        authenticator: Authenticator,
        decisions: Decisions,
        throttle: Throttle,
        deprecated: DeprecatedCalls,
    ) -> None:
        self.authenticator = authenticator
        self.decisions = decisions
        self.throttle = throttle
        self.deprecated = deprecated

    def guard(self, route: str, policy: Policy, endpoint: Endpoint) -> Guarded:
        """``endpoint`` behind ``policy``, as an ASGI app for a ``Route``; ``route`` names
        it in decisions and limits."""
        return Guarded(self, route, policy, endpoint)

    async def serve(
        self, request: Request, route: str, policy: Policy, endpoint: Endpoint
    ) -> Response:
        principal = await self.admit(request, route, policy)
        headers: Mapping[str, str] = {}
        if principal is not None and policy.quota is not None:
            headers = await self.throttle.take(principal.client, route, policy.quota)
        if request.method in BODY_METHODS:
            check_body(request, policy)
        try:
            async with asyncio.timeout(policy.timeout):
                response = await endpoint(request)
        except TimeoutError:
            raise GatewayTimeout(
                f"{request.method} {request.url.path} took longer than its"
                f" {policy.timeout:g} s timeout",
                fix="try again later; if it persists, tell the route's owner",
            ) from None
        _append_headers(response, headers)
        if policy.deprecation is not None:
            _append_headers(response, self.deprecated.headers(policy.deprecation))
            if principal is not None:
                self.deprecated.called(route, principal.client)
        return response

    async def admit(self, request: Request, route: str, policy: Policy) -> Principal | None:
        """The authenticated, authorized caller (None on a public route); every decision
        is recorded, and a refusal raises its 401 or 403."""
        if policy.public:
            return None
        try:
            principal = await self.authenticator.authenticate(request)
        except Unauthenticated as exc:
            self._record(request, route, policy, None, False, exc.message)
            raise
        missing = principal.missing(policy.scopes)
        if missing:
            self._record(
                request, route, policy, principal, False, "missing scope " + " ".join(missing)
            )
            raise Forbidden(
                f"the credential lacks the scope {' '.join(missing)} that"
                f" {request.method} {request.url.path} requires",
                fix="use a credential granted that scope (artery keys create --scope ...)",
                headers={
                    "WWW-Authenticate": 'Bearer error="insufficient_scope",'
                    f' scope="{" ".join(policy.scopes)}"'
                },
            )
        self._record(request, route, policy, principal, True, "granted")
        request.scope.setdefault("state", {})["principal"] = principal
        return principal

    def _record(
        self,
        request: Request,
        route: str,
        policy: Policy,
        principal: Principal | None,
        allowed: bool,
        reason: str,
    ) -> None:
        self.decisions.record(
            Decision(
                at_us=time.time_ns() // 1000,
                subject=principal.subject if principal else None,
                credential=principal.credential if principal else None,
                method=request.method,
                path=request.url.path,
                route=route,
                scopes=policy.scopes,
                allowed=allowed,
                reason=reason,
                request_id=request_id(request),
            )
        )


def _append_headers(response: Response, headers: Mapping[str, str]) -> None:
    """Add fields the endpoint never sets (rate limit, deprecation) to its answer: raw,
    since ``MutableHeaders`` scans every field for each one it sets."""
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    )


class Guarded:
    """A route's endpoint behind the gate, as a plain ASGI app: Starlette's function
    endpoints add two wrappers per request (exception handler lookup, a send tracker)
    that the edge already does for every route."""

    __slots__ = ("endpoint", "gate", "policy", "route")

    def __init__(self, gate: Gate, route: str, policy: Policy, endpoint: Endpoint) -> None:
        self.gate = gate
        self.route = route
        self.policy = policy
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["route"] = self.route  # metrics and spans name it
        request = Request(scope, receive, send)
        response = await self.gate.serve(request, self.route, self.policy, self.endpoint)
        await response(scope, receive, send)


def check_body(request: Request, policy: Policy) -> None:
    """Refuse a body over ``policy.max_body`` (by its declared length, and by counting as
    it streams in, for chunked bodies) and a non-JSON body on a JSON route."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > policy.max_body):
        raise PayloadTooLarge(
            f"the request body ({length} bytes) is over this route's {policy.max_body} bytes",
            fix="send a smaller body, or split it into several requests",
        )
    has_body = (length is not None and length != "0") or "transfer-encoding" in request.headers
    if policy.json_body and has_body:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaType(
                f"{request.method} {request.url.path} reads application/json,"
                f" not {media or 'a body without Content-Type'}",
                fix="send the body as JSON with Content-Type: application/json",
            )
    request._receive = _bounded(request._receive, policy.max_body)


def _bounded(
    receive: Callable[[], Awaitable[Message]], limit: int
) -> Callable[[], Awaitable[Message]]:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise PayloadTooLarge(
                f"the request body is over this route's {limit} bytes",
                fix="send a smaller body, or split it into several requests",
            )
        return message

    return bounded
