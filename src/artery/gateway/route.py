"""Routes an integration declares on the front door, as data.

``@integration.route("POST", "/v1/orders", request=..., response=..., scopes=[...])`` and
``integration.ingest(...)`` record an ``ApiRoute``; the gateway (``gateway/api.py``) turns
the declarations into the ``/`` mount when a process serves HTTP. A route answers with its
handler, publishes its body (ingest), or forwards to a legacy upstream, splitting traffic
between the upstream and the handler (``Split``) while the legacy endpoint is peeled off.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.errors import ConfigError
from artery.gateway.policy import Policy

if TYPE_CHECKING:
    from artery.integration import Contract

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PATH = re.compile(r"^(/[A-Za-z0-9._~\-]+|/\{[A-Za-z_][A-Za-z0-9_]*\})+$")
RESERVED = ("/admin", "/healthz", "/readyz", "/oauth", "/.well-known", "/openapi.json", "/problems")

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Split:
    """How much traffic a forwarded route sends to its new handler instead of the upstream:
    ``percent`` of requests (0-100), and every request carrying ``header`` (any value)
    regardless of the percentage. The stored split, changed at run time through the admin
    API, overrides this declared starting point."""

    percent: int = 0
    header: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.percent, bool) or not isinstance(self.percent, int):
            raise ConfigError(f"split percent {self.percent!r} is not a whole number", fix="0-100")
        if not 0 <= self.percent <= 100:
            raise ConfigError(f"split percent {self.percent} is out of range", fix="use 0 to 100")


@dataclass(frozen=True)
class ApiRoute:
    """One declared route. ``name`` is its operation id (OpenAPI), unique in the app."""

    method: str
    path: str
    name: str
    policy: Policy
    handler: Handler | None = None
    request: Contract | str | None = None
    response: Contract | str | None = None
    ingest: Contract | str | None = None  # publish the validated body to this contract
    upstream: str | None = None  # the legacy system's base URL this route forwards to
    split: Split | None = None
    summary: str | None = None
    integration: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"route method {self.method!r} is not supported", fix=f"use one of {METHODS}"
            )
        if not _PATH.match(self.path):
            raise ConfigError(
                f"route path {self.path!r} is not a path",
                fix='start with "/" and use segments such as /v1/orders/{order_id}',
            )
        if any(self.path == r or self.path.startswith(r + "/") for r in RESERVED):
            raise ConfigError(
                f"route path {self.path!r} is reserved by Artery",
                fix="serve integration routes under a version prefix such as /v1",
            )
        if self.handler is None and self.ingest is None and self.upstream is None:
            raise ConfigError(
                f"route {self.method} {self.path} has nothing to answer with",
                fix="give it a handler, a contract to ingest, or an upstream to forward to",
            )
        if self.request is not None and self.method in ("GET", "DELETE"):
            raise ConfigError(
                f"route {self.method} {self.path} has a request contract but reads no body",
                fix="validate bodies of POST, PUT or PATCH routes; read GET parameters from"
                " call.path and call.query",
            )
        if self.split is not None and (self.upstream is None or self.handler is None):
            raise ConfigError(
                f"route {self.method} {self.path} splits traffic without both sides",
                fix="a split needs an upstream (the legacy system) and a handler (the new one)",
            )

    @property
    def key(self) -> str:
        """``POST /v1/orders``: how decisions, limits, counts and splits name the route."""
        return f"{self.method} {self.path}"
