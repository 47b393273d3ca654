"""A webhook destination: where events go out (a partner's URL), which of them (event
types, with ``*`` wildcards, and an optional JMESPath filter on the payload), signed with
which secret, at what pace, and how hard to retry.

Declared with ``integration.webhook_destination(...)``; delivered by ``webhooks.outbound``
on the delivery engine, one consumer group per destination, so a failing endpoint never
delays the others. Retries follow Svix's schedule by default: after the first attempt,
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each with up to 10% jitter).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jmes_errors

from artery.delivery.rate_limit import Limit
from artery.durations import rate as parse_rate
from artery.durations import seconds
from artery.errors import ConfigError
from artery.govern import secrets

SVIX_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DISABLE_AFTER = 5 * 24 * 3600.0  # failing continuously this long disables a destination
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,62}$")
_RESERVED = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
)


@dataclass(frozen=True)
class Destination:
    name: str
    url: str
    events: tuple[str, ...]
    secret: tuple[str, ...]
    filter: str | None = None
    rate_limit: Limit | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    ordered: bool = False
    schedule: tuple[float, ...] = SVIX_SCHEDULE
    timeout: float = 15.0
    disable_after: float = DISABLE_AFTER
    integration: str | None = None

    @property
    def group(self) -> str:
        """The consumer group delivering it: its own offsets, retries and dead letters."""
        return f"webhook-{self.name}"

    @property
    def breaker(self) -> str:
        return f"webhook-{self.name}"

    def matches(self, subject: str) -> bool:
        return any(fnmatch.fnmatchcase(subject, pattern) for pattern in self.events)

    def wants(self, data: Any) -> bool:
        """Whether the filter (if any) lets an event with this payload through."""
        if self.filter is None:
            return True
        try:
            return bool(jmespath.search(self.filter, data))
        except jmes_errors.JMESPathError:
            return False


def destination(
    name: str,
    *,
    url: str,
    events: Sequence[str],
    secret: secrets.SecretRef,
    filter: str | None = None,
    rate_limit: str | float | None = None,
    headers: Mapping[str, str] | None = None,
    ordered: bool = False,
    schedule: Sequence[float | str] | None = None,
    timeout: float | str = 15.0,
    disable_after: float | str = DISABLE_AFTER,
    integration: str | None = None,
) -> Destination:
    """A checked ``Destination`` (see ``Integration.webhook_destination``)."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"webhook destination name {name!r} is not usable",
            fix="use lower-case letters, digits and . _ - (at most 63), e.g. erp",
        )
    if isinstance(events, str) or not events:
        raise ConfigError(
            f"destination {name!r} names no event types as a list",
            fix='e.g. events=["commerce.order.*"]',
        )
    if not url.lower().startswith(("https://", "http://")):
        raise ConfigError(f"destination {name!r}: {url!r} is not an http(s) URL", fix="https://...")
    if filter is not None:
        try:
            jmespath.compile(filter)
        except jmes_errors.JMESPathError:
            raise ConfigError(
                f"destination {name!r}: filter {filter!r} is not a JMESPath expression",
                fix='e.g. "total_cents > `10000`"',
            ) from None
    extra = dict(headers or {})
    for header in extra:
        lowered = header.lower()
        if lowered in _RESERVED or lowered.startswith(("webhook-", "svix-")):
            raise ConfigError(
                f"destination {name!r} may not set the {header} header",
                fix="drop it: Artery sets it on every delivery",
            )
    delays = tuple(seconds(d) for d in (SVIX_SCHEDULE if schedule is None else schedule))
    if any(d < 0 for d in delays):
        raise ConfigError(f"destination {name!r}: a retry delay is negative", fix="e.g. 5s")
    limit = None
    if rate_limit is not None:
        per_second = rate_limit if isinstance(rate_limit, float | int) else parse_rate(rate_limit)
        limit = Limit(f"webhook-{name}", float(per_second), max(1, int(per_second)))
    return Destination(
        name=name,
        url=url,
        events=tuple(events),
        secret=secrets.references(secret),
        filter=filter,
        rate_limit=limit,
        headers=extra,
        ordered=ordered,
        schedule=delays,
        timeout=seconds(timeout),
        disable_after=seconds(disable_after),
        integration=integration,
    )


__all__ = ["DISABLE_AFTER", "SVIX_SCHEDULE", "Destination", "destination"]
