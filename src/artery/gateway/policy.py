"""What the front door enforces on one route, and who is calling.

A ``Policy`` is data: the scopes a route needs, its rate limit, body size, timeout and
deprecation. The ``Gate`` (``gateway/gate.py``) applies it to every route alike, whether the
route is an integration's, the admin API's or the front door's own; no route checks
credentials by itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from artery.errors import ConfigError

MiB = 1 << 20
_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_QUOTA = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|min|h)\s*$")

ADMIN_READ = "admin:read"
ADMIN_WRITE = "admin:write"
ADMIN_DESTROY = "admin:destroy"  # purge and anything else that cannot be undone
ADMIN_SCOPES = (ADMIN_READ, ADMIN_WRITE, ADMIN_DESTROY)
CONSOLE_READ = "console:read"  # sign in to the console and see its pages
CONSOLE_WRITE = "console:write"  # act: redrive, approve, cancel, resend, enable, rotate
CONSOLE_DESTROY = "console:destroy"  # purge dead letters
CONSOLE_REVEAL = "console:reveal"  # see an event's classified fields (each reveal audited)
CONSOLE_SCOPES = (CONSOLE_READ, CONSOLE_WRITE, CONSOLE_DESTROY, CONSOLE_REVEAL)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a credential.

    ``subject`` is who (an API key's name, a token's ``sub``); ``credential`` is which
    credential proved it (``key:<prefix>``, ``client:<client_id>``, ``token:<issuer>``),
    recorded with every decision so a leaked credential can be traced and revoked."""

    subject: str
    credential: str
    scopes: frozenset[str]

    @property
    def client(self) -> str:
        """The rate-limit and deprecation-count identity: the credential, not the subject
        (two keys of one team are limited apart)."""
        return self.credential

    def missing(self, needed: tuple[str, ...]) -> list[str]:
        return [scope for scope in needed if scope not in self.scopes]


@dataclass(frozen=True)
class Quota:
    """A rate limit per client and route: ``limit`` requests per ``window`` seconds, all of
    which may come at once (GCRA burst = limit). Shown as ``RateLimit-Policy: "name";q=;w=``."""

    limit: int
    window: float
    name: str = "default"

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigError(
                f"rate limit quota {self.limit!r} is not a positive whole number",
                fix="give requests per window, e.g. Quota(100, 60)",
            )
        if not self.window > 0 or math.isinf(self.window):
            raise ConfigError(
                f"rate limit window {self.window!r} is not a positive number of seconds",
                fix="give the window in seconds, e.g. Quota(100, 60)",
            )

    @classmethod
    def parse(cls, text: str) -> Quota:
        """``"100/60s"``: 100 requests per 60 seconds (also ``/s``, ``/min``, ``/h``)."""
        match = _QUOTA.match(text)
        if match is None:
            raise ConfigError(
                f"bad rate limit {text!r}", fix='write requests/window, e.g. "100/60s" or "5/s"'
            )
        count, number, unit = match.groups()
        window = float(number or 1) * _UNITS[unit]
        return cls(int(count), window)


@dataclass(frozen=True)
class Deprecation:
    """A route being retired: ``at`` when it was (or will be) deprecated, ``sunset`` when
    it stops answering (never before ``at``), ``successor`` the path that replaces it."""

    at: datetime
    sunset: datetime | None = None
    successor: str | None = None

    def __post_init__(self) -> None:
        for name, value in (("at", self.at), ("sunset", self.sunset)):
            if value is not None and value.tzinfo is None:
                raise ConfigError(
                    f"deprecation {name}={value.isoformat()} has no time zone",
                    fix="give an aware datetime, e.g. datetime(2027, 1, 1, tzinfo=UTC)",
                )
        if self.sunset is not None and self.sunset < self.at:
            raise ConfigError(
                "a route's sunset is earlier than its deprecation",
                fix="set sunset at or after the deprecation date (RFC 9745)",
            )


DEFAULT_QUOTA = Quota(600, 60)


@dataclass(frozen=True)
class Policy:
    """What the gate enforces on one route. ``public`` routes (``/healthz``, ``/readyz``,
    the JWKS and the token endpoint, which reads its own client credentials) skip
    authentication; every other route needs a credential with all of ``scopes``."""

    scopes: tuple[str, ...] = ()
    public: bool = False
    quota: Quota | None = DEFAULT_QUOTA
    max_body: int = MiB
    timeout: float = 30.0
    json_body: bool = True  # a body must be application/json (else 415)
    deprecation: Deprecation | None = None
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.scopes, str):
            raise ConfigError(
                f"scopes={self.scopes!r} is a string, not a list of scopes",
                fix=f'write scopes=["{self.scopes}"]',
            )
        if not isinstance(self.max_body, int) or self.max_body < 0:
            raise ConfigError(
                f"max_body {self.max_body!r} is not a size in bytes", fix="e.g. max_body=1 << 20"
            )
        if not self.timeout > 0 or math.isinf(self.timeout):
            raise ConfigError(
                f"timeout {self.timeout!r} is not a positive number of seconds",
                fix="e.g. timeout=10",
            )
