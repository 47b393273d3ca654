"""Rate limits per client and route, for the gate, over the store-backed GCRA.

Each (client, route) pair is one ``Limit`` of ``delivery.rate_limit``: ``Quota(limit,
window)`` is ``limit / window`` requests per second with a burst of ``limit`` (a client idle
for a whole window may send its whole quota at once). Its state is one row of the store,
locked by each attempt, so every gateway process sharing a PostgreSQL store shares the
limit. One transaction both decides and reports what is left, so the headers never
disagree with the decision.

Answers carry the IETF httpapi ratelimit-headers draft's structured fields:
``RateLimit-Policy: "default";q=100;w=60`` (the quota) and ``RateLimit: "default";r=42;t=35``
(requests remaining now, seconds until the quota is whole again); a refusal raises
``TooManyRequests`` (429) with both and ``Retry-After`` (whole seconds, at least 1).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping

from artery.delivery.rate_limit import Grant, Limit, RateLimiter
from artery.errors import TooManyRequests
from artery.gateway.policy import Quota
from artery.store.protocol import Store


def limit_name(client: str, route: str) -> str:
    """A ``Limit`` name for the pair: client ids and routes hold characters a limit name
    may not (``:``, ``/``, spaces), and must not be readable in the store either; a short
    hash is safe for both and stable across processes."""
    digest = hashlib.blake2b(f"{client}\n{route}".encode(), digest_size=12).hexdigest()
    return f"gw-{digest}"


def limit_of(client: str, route: str, quota: Quota) -> Limit:
    return Limit(limit_name(client, route), quota.limit / quota.window, quota.limit)


def _seconds(us: int) -> int:
    return math.ceil(us / 1_000_000)


def headers(quota: Quota, grant: Grant) -> dict[str, str]:
    """The draft's ``RateLimit-Policy`` and ``RateLimit`` fields for ``grant``."""
    name = quota.name.replace("\\", "\\\\").replace('"', '\\"')
    return {
        "RateLimit-Policy": f'"{name}";q={quota.limit};w={math.ceil(quota.window)}',
        "RateLimit": f'"{name}";r={grant.remaining};t={_seconds(grant.whole_us)}',
    }


class StoreThrottle:
    """The gate's ``Throttle``, backed by the store (shared by every gateway process)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._limiter = RateLimiter(store, clock=clock)

    async def take(self, client: str, route: str, quota: Quota) -> Mapping[str, str]:
        grant = await self._limiter.take(limit_of(client, route, quota))
        fields = headers(quota, grant)
        if grant.granted:
            return fields
        wait = max(1, _seconds(grant.wait_us))
        raise TooManyRequests(
            f"the rate limit of {quota.limit} requests per {quota.window:g} s on {route}"
            f" is spent for this client; the next request is allowed in {wait} s",
            fix=f"wait {wait} s (Retry-After) before calling again, and pace calls by the"
            " RateLimit header",
            headers={**fields, "Retry-After": str(wait)},
        )
