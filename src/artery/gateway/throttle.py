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

Leases. A store write per request was a fifth of the front door's cost, so each process
takes cells from the store a few at a time and grants them from memory. A pair's lease
starts at one cell and doubles each time it is used up within ``LEASE_SECONDS`` (halving
when it lapses unused), up to ``lease_cap(quota)``: 5% of the burst and a quarter of a
second's rate, so quotas under 40 requests (and callers that do not hurry) are counted
exactly, cell by cell. Leased cells are charged to the store when taken, so gateways
sharing a store never grant more than the quota between them, except that a lease's cells
may be spent up to ``LEASE_SECONDS`` after they were charged: within one second a client
can be granted at most one lease more than its burst, per process. ``RateLimit`` then
counts the lease's cells as remaining and the time to whole from the last store grant. A
refusal is remembered until the store said a cell frees up: exact (time alone frees cells),
and a client hammering a spent quota costs no store writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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


LEASE_SECONDS = 1.0  # leased cells not spent within this lapse
MAX_LEASE = 100  # cells per lease, whatever the quota
_MAX_PAIRS = 4096  # leases kept before lapsed ones are dropped


def lease_cap(quota: Quota) -> int:
    """The most cells one lease of ``quota`` may hold (see the module docstring)."""
    rate = quota.limit / quota.window
    return max(1, min(MAX_LEASE, quota.limit // 20, int(rate * LEASE_SECONDS / 4)))


@dataclass(slots=True)
class _Pair:
    """One client and route's limit, and the cells this process holds of it."""

    limit: Limit
    quota: Quota
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    cells: int = 0  # leased, not yet granted
    size: int = 1  # cells the next lease asks for
    remaining: int = 0  # the store's remaining cells at the last lease
    whole_us: int = 0  # the store's time to whole at the last lease
    leased_at: float = 0.0
    expires: float = 0.0
    refused_until: float = 0.0  # no cell is free before then (the store said so)

    def fields(self, now: float) -> dict[str, str]:
        whole = max(0, self.whole_us - int((now - self.leased_at) * 1_000_000))
        return headers(self.quota, Grant(True, self.cells + self.remaining, 0, whole))


class StoreThrottle:
    """The gate's ``Throttle``, backed by the store (shared by every gateway process)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._limiter = RateLimiter(store, clock=clock)
        self._clock = clock
        self._pairs: dict[tuple[str, str, Quota], _Pair] = {}

    async def take(self, client: str, route: str, quota: Quota) -> Mapping[str, str]:
        pair = self._pairs.get((client, route, quota))
        if pair is None:
            pair = self._pair(client, route, quota)
        now = self._clock()
        if now < pair.refused_until:  # exact: no cell frees up sooner, in any process
            wait_us = int((pair.refused_until - now) * 1_000_000)
            whole_us = max(0, pair.whole_us - int((now - pair.leased_at) * 1_000_000))
            raise self._refusal(quota, route, Grant(False, 0, wait_us, whole_us, cells=0))
        if pair.cells < 1 or now >= pair.expires:
            await self._lease(pair, route)
            now = self._clock()
        pair.cells -= 1
        return pair.fields(now)

    def _pair(self, client: str, route: str, quota: Quota) -> _Pair:
        if len(self._pairs) >= _MAX_PAIRS:
            now = self._clock()
            for key, pair in list(self._pairs.items()):
                if now >= pair.expires and not pair.lock.locked():
                    del self._pairs[key]
        pair = self._pairs[(client, route, quota)] = _Pair(limit_of(client, route, quota), quota)
        return pair

    async def _lease(self, pair: _Pair, route: str) -> None:
        """Take the pair's next lease from the store (one caller at a time; the others
        then use the lease it took); raises ``TooManyRequests`` when no cell is free."""
        async with pair.lock:
            now = self._clock()
            if pair.cells >= 1 and now < pair.expires:
                return  # another caller leased meanwhile
            if pair.expires > 0:  # grow a lease spent in time, shrink one that lapsed
                spent = pair.cells < 1 and now < pair.expires
                cap = lease_cap(pair.quota)
                pair.size = min(cap, pair.size * 2) if spent else max(1, pair.size // 2)
            grant = await self._limiter.take(pair.limit, pair.size)
            now = self._clock()
            if not grant.granted:
                pair.cells, pair.whole_us, pair.leased_at = 0, grant.whole_us, now
                pair.refused_until = now + grant.wait_us / 1_000_000
                raise self._refusal(pair.quota, route, grant)
            pair.cells, pair.remaining, pair.whole_us = grant.cells, grant.remaining, grant.whole_us
            pair.leased_at, pair.expires = now, now + LEASE_SECONDS

    @staticmethod
    def _refusal(quota: Quota, route: str, grant: Grant) -> TooManyRequests:
        wait = max(1, _seconds(grant.wait_us))
        return TooManyRequests(
            f"the rate limit of {quota.limit} requests per {quota.window:g} s on {route}"
            f" is spent for this client; the next request is allowed in {wait} s",
            fix=f"wait {wait} s (Retry-After) before calling again, and pace calls by the"
            " RateLimit header",
            headers={**headers(quota, grant), "Retry-After": str(wait)},
        )
