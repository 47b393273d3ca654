"""Integration routes on the front door: each declared ``ApiRoute`` as a Starlette route.

Every route goes through the gate (``Gate.guard``): authentication, scopes, limits and body
checks happen before anything here runs. Then the body is parsed and validated against the
route's ``request`` contract by the registry's own validator (422 with JSON pointers and
messages that never quote a value), the handler answers (or the body is published, for an
ingest route; or the request is forwarded, for a strangler route), and in development mode
the answer is checked against the ``response`` contract. POST and PATCH honour an
``Idempotency-Key`` (``gateway/idempotency.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from artery.envelope import Event
from artery.errors import ArteryError, ConfigError, ContractViolation, Violation
from artery.gateway.gate import Endpoint, Gate, request_id
from artery.gateway.idempotency import Idempotency
from artery.gateway.policy import Principal
from artery.gateway.route import ApiRoute
from artery.integration import Contract, Declarations, resolve
from artery.publishing import Publisher
from artery.runtime import Runtime

JSON = "application/json"
# W3C Trace Context: version-traceid-parentid-flags, lower-case hex, ids not all zero
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Validator messages that name properties only (from the schema or the keys), never values
_NAMES_ONLY = frozenset({"required", "additionalProperties", "unevaluatedProperties"})


class MalformedBody(ArteryError):
    """A request body that is not JSON at all (before any contract is consulted)."""

    code = "artery.malformed-body"
    http_status = 400


class ResponseViolation(ArteryError):
    """In development mode: a handler answered with data its ``response`` contract refuses.
    A bug in the handler, so a 500; the message names the route and the pointers only."""

    code = "artery.response-violation"
    http_status = 500


class Forwarder(Protocol):
    """Serves a route that has an ``upstream`` (``gateway/strangler.py``): forwards to the
    legacy system, or hands part of the traffic to ``handler``."""

    def endpoint(self, route: ApiRoute, handler: Endpoint | None) -> Endpoint: ...


@dataclass(frozen=True)
class Reply:
    """A handler's answer when 200 with a JSON body is not the one: another status, extra
    headers (``Location``), or no body (``body=None`` with 204). A refusal is better
    raised as an ``ArteryError`` (``NotFound``, ``Conflict``...): it becomes problem+json,
    as the OpenAPI document promises for every error."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """What a route handler gets: the validated JSON ``body``, the ``path`` parameters,
    the ``query`` and ``headers``, the authenticated ``principal``, and the correlation
    (``request_id``, ``traceparent``) that ``publish`` carries into every event it makes."""

    body: Any
    path: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    principal: Principal | None
    request_id: str | None
    traceparent: str | None
    publisher: Publisher = field(repr=False)

    async def publish(self, target: Contract | str, data: Any, /, **attrs: Any) -> Event:
        """Publish ``data`` as an event of ``target`` (a contract or its subject), carrying
        this request's correlation id and trace context unless ``attrs`` say otherwise."""
        attrs.setdefault("correlation_id", self.request_id)
        attrs.setdefault("traceparent", self.traceparent)
        return await self.publisher.publish(target, data, **attrs)


def routes(
    declared: Declarations,
    gate: Gate,
    runtime: Runtime,
    publisher: Publisher,
    forwarder: Forwarder | None = None,
) -> list[BaseRoute]:
    """One Starlette route per declared ``ApiRoute``, each behind the gate."""
    contracts = declared.contracts
    idempotency = Idempotency(runtime.store, runtime.settings.idempotency_ttl)
    served: list[BaseRoute] = []
    for route in declared.routes.values():
        endpoint: Endpoint = _Endpoint(route, contracts, runtime, publisher, idempotency).answer
        if route.upstream is not None:
            if forwarder is None:
                raise ConfigError(
                    f"route {route.key} forwards to an upstream but no forwarder is configured",
                    fix="serve it through the gateway's front door, which forwards",
                )
            has_own = route.handler is not None
            endpoint = forwarder.endpoint(route, endpoint if has_own else None)
        guarded = gate.guard(route.key, route.policy, endpoint)
        served.append(Route(route.path, guarded, methods=[route.method], name=route.name))
    return served


class _Endpoint:
    """One route's endpoint: parse, validate, answer (handler or publish), check."""

    def __init__(
        self,
        route: ApiRoute,
        contracts: Mapping[str, Contract],
        runtime: Runtime,
        publisher: Publisher,
        idempotency: Idempotency,
    ) -> None:
        self.route = route
        self.runtime = runtime
        self.publisher = publisher
        self.idempotency = idempotency
        self.request = _subject(contracts, route.request)
        self.response = _subject(contracts, route.response)
        self.ingest = resolve(contracts, route.ingest) if route.ingest is not None else None
        self.lease = route.policy.timeout + 10.0

    async def answer(self, request: Request) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        if key is None or request.method not in ("POST", "PATCH"):
            return await self.produce(request, raw)
        principal = _principal(request)
        client = principal.client if principal else "anonymous"
        # An ingest retried after its claim lapsed (a gateway died after publishing) is
        # still stored once: the log dedupes events by this key.
        dedupe = hashlib.sha256(f"{client}\n{self.route.key}\n{key}".encode()).hexdigest()
        return await self.idempotency.once(
            client=client,
            route=self.route.key,
            key=key,
            fingerprint=self.idempotency.fingerprint(request.url.path, request.url.query, raw),
            lease=self.lease,
            produce=lambda: self.produce(request, raw, dedupe),
        )

    async def produce(self, request: Request, raw: bytes, dedupe: str | None = None) -> Response:
        body = _parse(raw)
        rid = _request_id(request)
        trace = _traceparent(request)
        if self.ingest is not None:
            return await self.publish(body, rid, trace, dedupe)
        if self.request is not None:
            await self.validate(self.request, body)
        assert self.route.handler is not None  # ApiRoute refuses a route without an answer
        call = Call(
            body=body,
            path=request.path_params,
            query=request.query_params,
            headers=request.headers,
            principal=_principal(request),
            request_id=rid,
            traceparent=trace,
            publisher=self.publisher,
        )
        answer = await self.route.handler(call)
        reply = answer if isinstance(answer, Reply) else Reply(200, answer)
        if self.response is not None and self.runtime.settings.development:
            await self.check_response(self.response, reply)
        return _json_response(reply)

    async def publish(
        self, body: Any, rid: str | None, trace: str | None, dedupe: str | None
    ) -> Response:
        """Publish the body (the log validates it against the contract, once)."""
        assert self.ingest is not None
        try:
            event = await self.publisher.publish(
                self.ingest, body, correlation_id=rid, traceparent=trace, idempotency_key=dedupe
            )
        except ContractViolation as exc:
            raise scrubbed(exc, body) from None
        return _json_response(
            Reply(202, {"id": event.id, "topic": event.topic, "partition": event.partition})
        )

    async def validate(self, subject: str, body: Any) -> None:
        registry = self.runtime.registry
        version = await registry.get(subject)
        found = registry.compiled(version).violations(body)
        if found and body is None:
            missing = Violation("", "type", "the request has no body; send a JSON document")
            raise ContractViolation(subject, version.version, [missing])
        if found:
            raise scrubbed(ContractViolation(subject, version.version, found), body)

    async def check_response(self, subject: str, reply: Reply) -> None:
        if not 200 <= reply.status < 300 or (reply.body is None and reply.status == 204):
            return
        registry = self.runtime.registry
        version = await registry.get(subject)
        found = registry.compiled(version).violations(reply.body)
        if found:
            where = ", ".join(f"{v.pointer or '/'} [{v.keyword}]" for v in found)
            raise ResponseViolation(
                f"the answer of {self.route.key} violates its response contract"
                f" {subject!r} v{version.version} at {where}",
                fix="correct the route's handler (or its response contract); this check runs"
                " in development mode only",
            )


def _subject(contracts: Mapping[str, Contract], target: Contract | str | None) -> str | None:
    """The registered subject a route's contract names (declared or registered elsewhere)."""
    if target is None:
        return None
    found = resolve(contracts, target)
    return found.subject if isinstance(found, Contract) else found


def _principal(request: Request) -> Principal | None:
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else None


def _request_id(request: Request) -> str | None:
    """The correlation id the edge gave the request, else a sane ``X-Request-Id``."""
    found = request_id(request)
    if found is not None:
        return found
    header = request.headers.get("x-request-id", "")
    return header if _REQUEST_ID.match(header) else None


def _traceparent(request: Request) -> str | None:
    """The W3C trace context the edge accepted, else a well-formed ``traceparent`` header."""
    found = request.scope.get("state", {}).get("traceparent")
    if isinstance(found, str):
        return found
    header = request.headers.get("traceparent", "").strip()
    return header if _TRACEPARENT.match(header) else None


def _parse(raw: bytes) -> Any:
    """The body as JSON (None when empty); a malformed body is a 400 naming where."""
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(
            f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})",
            fix="send a JSON document with Content-Type: application/json",
        ) from None


def _json_response(reply: Reply) -> Response:
    if reply.body is None and reply.status in (204, 304):
        return Response(status_code=reply.status, headers=dict(reply.headers))
    return Response(
        orjson.dumps(reply.body), reply.status, headers=dict(reply.headers), media_type=JSON
    )


def scrubbed(exc: ContractViolation, body: Any) -> ContractViolation:
    """``exc`` with messages that quote no value of ``body``: the validator starts most
    messages with the offending value, which may be personal data."""
    safe = [Violation(v.pointer, v.keyword, _safe_message(v, body)) for v in exc.violations]
    return ContractViolation(exc.subject, exc.version, safe)


def _safe_message(violation: Violation, body: Any) -> str:
    if violation.keyword in _NAMES_ONLY:
        return violation.message
    generic = f"the value does not satisfy '{violation.keyword}'"
    found, value = _at(body, violation.pointer)
    if not found:
        return generic
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:
        return generic
    if not violation.message.startswith(shown):
        return generic
    rest = violation.message[len(shown) :]
    if shown in rest or (len(shown) > 2 and shown.strip('"') in rest):
        return generic
    return "the value" + rest


def _at(document: Any, pointer: str) -> tuple[bool, Any]:
    """The value at a JSON pointer (RFC 6901) of ``document``, if there is one."""
    node = document
    for token in pointer.split("/")[1:] if pointer else []:
        part = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


__all__ = [
    "Call",
    "Forwarder",
    "MalformedBody",
    "Reply",
    "ResponseViolation",
    "routes",
    "scrubbed",
]
