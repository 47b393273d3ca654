"""Which headers cross the gateway when it forwards a request to an upstream, each way.

Hop-by-hop headers (RFC 9110 section 7.6.1, and any the ``Connection`` header names) belong
to one connection and are dropped both ways. The caller's credentials (``Authorization``,
``X-API-Key``, ``Cookie``) were issued for the gateway, which has checked them; they are not
passed on, so the legacy system can never replay them, and it learns who called from
``X-Artery-Client`` instead. The correlation headers are set from this request's own
(``X-Request-Id``, ``traceparent``); ``X-Forwarded-For`` gets the caller's address appended,
``X-Forwarded-Host`` and ``-Proto`` say what the caller asked for. On the way back the
upstream's ``Set-Cookie``, HSTS and CORS headers are dropped: the gateway's origin policy is
the gateway's alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request

HOP_BY_HOP = frozenset(
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ]
)
# Never sent upstream: the caller's credentials for the gateway, and what is set anew.
NOT_FORWARDED = HOP_BY_HOP | frozenset(
    [
        "authorization",
        "x-api-key",
        "cookie",
        "host",
        "content-length",
        "x-request-id",
        "traceparent",
        "x-artery-client",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    ]
)
# Never relayed back: per-connection headers, what Starlette and uvicorn set themselves,
# and headers that would let the legacy system set the gateway's own policy.
NOT_RELAYED = HOP_BY_HOP | frozenset(
    [
        "content-length",
        "date",
        "server",
        "set-cookie",
        "strict-transport-security",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-expose-headers",
        "access-control-max-age",
        "ratelimit",
        "ratelimit-policy",
    ]
)


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[str]:
    """Header names listed in ``Connection``: hop-by-hop for this connection only."""
    named: set[str] = set()
    for key, value in headers:
        if key.lower() == b"connection":
            named.update(t.strip().lower() for t in value.decode("latin-1").split(","))
    return named


def upstream_headers(request: Request) -> list[tuple[bytes, bytes]]:
    """The caller's headers minus credentials and hop-by-hop ones, plus the correlation
    headers and who called (as the gateway established it)."""
    raw = request.headers.raw
    dropped = NOT_FORWARDED | _connection_tokens(raw)
    kept = [(k, v) for k, v in raw if k.decode("latin-1").lower() not in dropped]
    state: Mapping[str, Any] = request.scope.get("state", {})
    rid = state.get("request_id") or request.headers.get("x-request-id")
    trace = state.get("traceparent") or request.headers.get("traceparent")
    extra = {"x-request-id": rid, "traceparent": trace, "x-artery-client": client_of(request)}
    if request.client is not None:
        prior = request.headers.get("x-forwarded-for")
        extra["x-forwarded-for"] = (
            f"{prior}, {request.client.host}" if prior else request.client.host
        )
    extra["x-forwarded-host"] = request.headers.get("host")
    extra["x-forwarded-proto"] = request.url.scheme
    kept += [(k.encode(), str(v).encode("latin-1")) for k, v in extra.items() if v]
    return kept


def relayed_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = list(raw)
    dropped = NOT_RELAYED | _connection_tokens(headers)
    return [(k.lower(), v) for k, v in headers if k.decode("latin-1").lower() not in dropped]


def client_of(request: Request) -> str | None:
    """The client the gate admitted (its credential id), if any."""
    principal = request.scope.get("state", {}).get("principal")
    client = getattr(principal, "client", None)
    return client if isinstance(client, str) else None
