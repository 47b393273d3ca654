"""The edge: what every request meets before any route, as one pure ASGI middleware.

In order, for each HTTP request:

1. Correlation. A sane ``X-Request-Id`` (visible ASCII, at most 200 characters) is kept,
   anything else replaced by a new one; a valid W3C ``traceparent`` (version 00) continues
   its trace, anything else starts a new one. This hop's span gets a new id (the server
   span's, when spans are recorded: ``observe/http.py`` runs first). Both go into
   ``scope["state"]`` (``request_id``, ``traceparent``) for the routes and the events they
   create, and onto every response, errors included.
2. Header limits: more than ``max_header_count`` fields or ``max_header_bytes`` bytes is a
   431, before any route parses them.
3. Host. The ``Host`` header must be one of ``allowed_hosts`` (``*`` allows any): a web page
   that rebinds its own DNS name to 127.0.0.1 still sends its own name, and is refused.
   ``/healthz`` and ``/readyz`` are exempt: load balancers and orchestrators probe them by
   IP address, and they reveal nothing a rebinding page could use.
4. Origin. A request carrying an ``Origin`` that is neither the server's own nor one of
   ``cors_origins`` (exact match) is refused 403, whatever its method or media type: this
   closes the cross-site ``text/plain`` POST that needs no preflight.
5. CORS, only when ``cors_origins`` is set: a preflight is answered here; other answers to
   an allowed origin name that origin exactly (never ``*``) with ``Vary: Origin``.

Refusals are problem+json like every other error, carrying the request id: the edge is
also where any exception a route raises becomes its problem answer (``problems.py``), so
one layer wraps the router, not three. Pure ASGI rather than ``BaseHTTPMiddleware``,
which costs a task and a stream per request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artery import ids
from artery.config import Settings
from artery.errors import ArteryError, Forbidden
from artery.gateway import problems
from artery.observe import log_context

REQUEST_ID = "x-request-id"
TRACEPARENT = "traceparent"
EXEMPT_FROM_HOST = frozenset({"/healthz", "/readyz"})
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-API-Key"
CORS_EXPOSED = (
    "X-Request-Id, traceparent, RateLimit, RateLimit-Policy, Retry-After, Deprecation,"
    " Sunset, Link, Location"
)
CORS_MAX_AGE = "600"

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class HostNotAllowed(ArteryError):
    """The ``Host`` header names a host this server does not answer for."""

    code = "artery.host-not-allowed"
    http_status = 400


class OriginNotAllowed(Forbidden):
    """A cross-site request from an origin that is not configured for CORS."""

    code = "artery.origin-not-allowed"


class HeadersTooLarge(ArteryError):
    """More header fields or bytes than the server accepts."""

    code = "artery.headers-too-large"
    http_status = 431


def request_id_of(given: str | None) -> str:
    """``given`` if it is a sane correlation id, else a new one."""
    if given is not None and _REQUEST_ID.match(given):
        return given
    return ids.random_bytes(16).hex()


def traceparent_of(given: str | None) -> str:
    """This hop's ``traceparent``: the caller's trace continued under a new span id, or a
    new trace when the caller sent none or an invalid one (W3C Trace Context, version 00;
    all-zero trace or parent ids are invalid)."""
    match = _TRACEPARENT.match(given.strip()) if given is not None else None
    if match is not None:
        trace_id, parent_id, flags = match.groups()
        if trace_id.strip("0") and parent_id.strip("0"):
            return f"00-{trace_id}-{_nonzero_hex(8)}-{flags}"
    return f"00-{_nonzero_hex(16)}-{_nonzero_hex(8)}-01"


def _nonzero_hex(size: int) -> str:
    return ids.nonzero_hex(size)


def host_name(host: str) -> str:
    """The host of a ``Host`` header, port stripped, IPv6 brackets removed, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


class Edge:
    """The edge middleware over ``app`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.any_host = "*" in settings.allowed_hosts
        self.hosts = frozenset(h.strip().lower() for h in settings.allowed_hosts)
        self.origins = frozenset(o.strip().lower().rstrip("/") for o in settings.cors_origins)
        self.max_count = settings.max_header_count
        self.max_bytes = settings.max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _first_values(scope["headers"], (REQUEST_ID, TRACEPARENT, "host", "origin"))
        request_id = request_id_of(headers.get(REQUEST_ID))
        state = scope.get("state") or {}
        traceparent = state.get("traceparent") or traceparent_of(headers.get(TRACEPARENT))
        scope["state"] = {**state, "request_id": request_id, "traceparent": traceparent}
        echoed = [(b"x-request-id", request_id.encode()), (b"traceparent", traceparent.encode())]
        origin = headers.get("origin")
        try:
            self.check_headers(scope["headers"])
            self.check_host(scope, headers.get("host"))
            cors = self.check_origin(scope, origin, headers.get("host"))
        except ArteryError as exc:
            response: Response = problems.from_error(exc, scope)
            response.raw_headers.extend(echoed)
            await response(scope, receive, send)
            return
        if (
            cors
            and scope["method"] == "OPTIONS"
            and _header(scope, "access-control-request-method")
        ):
            await self.preflight(origin or "", echoed)(scope, receive, send)
            return
        added = echoed
        if cors:
            added = echoed + self.cors_headers(origin or "")
        elif self.origins:  # answers differ by Origin: caches must know
            added = [*echoed, (b"vary", b"Origin")]

        started = False

        async def marked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        logged = log_context.enter_request(request_id, traceparent)  # fields of its log lines
        try:
            await self.app(scope, receive, marked)
        except ClientDisconnect:
            return  # the caller left before sending its whole body: no one to answer
        except Exception as exc:
            if started:  # too late for a problem response; uvicorn drops the connection
                raise
            await problems.for_exception(exc, scope)(scope, receive, marked)
        finally:
            log_context.leave(logged)

    def check_headers(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        count = size = 0
        for name, value in raw:
            count += 1
            size += len(name) + len(value)
        if count > self.max_count or size > self.max_bytes:
            raise HeadersTooLarge(
                f"the request has {count} header fields of {size} bytes; this server"
                f" accepts at most {self.max_count} fields and {self.max_bytes} bytes",
                fix="send fewer or smaller headers (large cookies are the usual cause)",
            )

    def check_host(self, scope: Scope, host: str | None) -> None:
        if self.any_host or scope.get("path") in EXEMPT_FROM_HOST:
            return
        if host is None or host_name(host) not in self.hosts:
            raise HostNotAllowed(
                "the request's Host header names a host this server does not answer for",
                fix="call the server by an allowed host name, or add it to allowed_hosts"
                " (ARTERY_ALLOWED_HOSTS)",
            )

    def check_origin(self, scope: Scope, origin: str | None, host: str | None) -> bool:
        """Whether the request is cross-origin from an allowed origin (CORS applies);
        refuses one from any other origin."""
        if origin is None:
            return False
        origin = origin.strip().lower().rstrip("/")
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        if _without_default_port(origin) == _without_default_port(f"{scheme}://{host or ''}"):
            return False
        if origin in self.origins:
            return True
        raise OriginNotAllowed(
            "the request comes from a web page of another origin, which is not allowed to"
            " call this server",
            fix="call the API from a server, or add the page's exact origin to cors_origins"
            " (ARTERY_CORS_ORIGINS)",
        )

    def cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-expose-headers", CORS_EXPOSED.encode()),
            (b"vary", b"Origin"),
        ]

    def preflight(self, origin: str, echoed: list[tuple[bytes, bytes]]) -> Response:
        """The answer to a CORS preflight from an allowed origin: the methods and headers
        the API reads; the browser enforces them."""
        response = Response(status_code=204)
        response.raw_headers.extend(
            [
                *echoed,
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", CORS_HEADERS.encode()),
                (b"access-control-max-age", CORS_MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ]
        )
        return response


def _first_values(raw: Iterable[tuple[bytes, bytes]], wanted: Iterable[str]) -> dict[str, str]:
    """The first value of each ``wanted`` header (lower-case names), decoded as Latin-1."""
    names = {name.encode(): name for name in wanted}
    found: dict[str, str] = {}
    for name, value in raw:
        key = names.get(name.lower())
        if key is not None and key not in found:
            found[key] = value.decode("latin-1")
    return found


def _without_default_port(origin: str) -> str:
    """``http://h:80`` -> ``http://h`` and ``https://h:443`` -> ``https://h``, lower case."""
    origin = origin.strip().lower()
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin.removesuffix(port)
    return origin


def _header(scope: Scope, name: str) -> str | None:
    return _first_values(scope["headers"], (name,)).get(name)
