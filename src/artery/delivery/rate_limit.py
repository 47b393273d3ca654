"""Named rate limits shared by every consumer and worker process that calls one partner.

``"erp:20/s"`` is the limit called ``erp``: 20 calls per second, with a burst of one
second's worth. The algorithm is GCRA (the generic cell rate algorithm, as in redis-cell):
a limit's whole state is one number, its theoretical arrival time ``tat``, kept in the
``rate_limits`` table. Each attempt is one write transaction that locks that row, so on
PostgreSQL the limit holds across processes. In any window of ``d`` seconds a limit grants
at most ``rate * d + burst`` cells.

Times are wall-clock microseconds, so processes on different hosts share a limit only as
well as their clocks agree.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from artery.durations import rate as parse_rate
from artery.errors import ConfigError
from artery.store.protocol import Store, Tx

__all__ = ["Grant", "Limit", "RateLimiter"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_TEXT = re.compile(r"^\s*(?P<name>[^:]+?)\s*:\s*(?P<rate>[^,]+?)\s*(?:,\s*(?P<opts>.*?)\s*)?$")
_BURST = re.compile(r"^burst\s*=\s*(\d+)$")
_FORMAT_FIX = 'write name:rate[,burst=N], e.g. "erp:20/s" or "erp:20/s,burst=40"'
_JITTER = 0.02  # waiters sleep up to 20 ms longer than told, so processes do not wake in step


@dataclass(frozen=True)
class Limit:
    """At most ``rate`` cells per second, with up to ``burst`` granted at once from idle."""

    name: str
    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"bad rate limit name {self.name!r}",
                fix="use letters, digits, '.', '_' or '-', e.g. the partner's name",
            )
        if not self.rate > 0 or math.isinf(self.rate):
            raise ConfigError(
                f"rate limit {self.name!r} needs a positive rate, not {self.rate!r}",
                fix='give calls per second, or parse text such as "erp:20/s"',
            )
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ConfigError(
                f"rate limit {self.name!r} needs a burst of at least 1, not {self.burst!r}",
                fix="set burst to how many calls may go at once, e.g. one second's worth",
            )

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"erp:20/s"`` or ``"erp:20/s,burst=40"``; the default burst is one second's worth."""
        match = _TEXT.match(text)
        if not match:
            raise ConfigError(f"bad rate limit {text!r}", fix=_FORMAT_FIX)
        try:
            per_second = parse_rate(match["rate"])
        except ConfigError:
            raise ConfigError(f"bad rate in rate limit {text!r}", fix=_FORMAT_FIX) from None
        burst = max(1, int(per_second))
        if match["opts"] is not None:
            option = _BURST.match(match["opts"])
            if not option:
                raise ConfigError(f"bad option in rate limit {text!r}", fix=_FORMAT_FIX)
            burst = int(option[1])
        return cls(match["name"], per_second, burst)

    @property
    def interval_us(self) -> int:
        """Microseconds per cell, rounded up so a limit is never exceeded by rounding."""
        return max(1, math.ceil(1_000_000 / self.rate))

    def __str__(self) -> str:
        return f"{self.name}:{self.rate:g}/s,burst={self.burst}"


@dataclass(frozen=True)
class Grant:
    """What one attempt decided, from the same transaction: whether a cell was granted,
    how many more could be granted right now, how long until the next cell is free
    (0 when granted) and until the limit is whole again (its full burst free)."""

    granted: bool
    remaining: int
    wait_us: int
    whole_us: int
    cells: int = 1  # how many were granted (``take(limit, cells=n)`` may grant fewer)


class RateLimiter:
    """Grants cells of named limits; one per App, shared by its consumers.

    Callers that have to wait queue per limit in this process, so only one of them at a
    time asks the store again; a caller arriving while others wait may still be granted a
    free cell first (no strict fairness).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock  # wall-clock seconds; every process sharing a limit must agree
        self._queues: dict[str, asyncio.Lock] = {}
        self.on_wait = on_wait  # told (limit name, seconds) after each wait, for metrics

    async def try_acquire(self, limit: Limit) -> float:
        """Take a cell if one is free now and return 0.0; else return the seconds to wait.

        A refusal consumes nothing.
        """
        grant = await self.take(limit)
        return grant.wait_us / 1_000_000

    async def take(self, limit: Limit, cells: int = 1) -> Grant:
        """Take up to ``cells`` cells, as many as are free now (at least one, or none);
        the grant says how many and what is left either way. A refusal consumes nothing."""
        return await self._store.write(self._attempt(limit, cells))

    async def acquire(self, limit: Limit) -> None:
        """Wait (sleeping, never spinning) until a cell of ``limit`` is granted."""
        wait = await self.try_acquire(limit)
        if wait <= 0:
            return
        began = time.monotonic()
        queue = self._queues.setdefault(limit.name, asyncio.Lock())
        async with queue:
            while wait > 0:
                await asyncio.sleep(wait + random.uniform(0, min(wait, _JITTER)))
                wait = await self.try_acquire(limit)
        if self.on_wait is not None:
            self.on_wait(limit.name, time.monotonic() - began)

    def _attempt(self, limit: Limit, cells: int = 1) -> Callable[[Tx], Grant]:
        interval = limit.interval_us

        def attempt(tx: Tx) -> Grant:
            tat = _locked_tat(tx, limit.name)
            now = int(self._clock() * 1_000_000)
            base = max(tat, now)
            free = (now + interval * limit.burst - base) // interval  # cells free now
            if free < 1:
                wait = base + interval - interval * limit.burst - now
                return Grant(False, 0, wait, max(0, tat - now), cells=0)
            taken = min(cells, free)
            new_tat = base + interval * taken
            tx.execute("UPDATE rate_limits SET tat = ? WHERE name = ?", (new_tat, limit.name))
            return Grant(True, int(free - taken), 0, new_tat - now, cells=taken)

        return attempt


def _locked_tat(tx: Tx, name: str) -> int:
    """The limit's ``tat``, its row locked until commit; creates the row on first use.

    Creating it with ``ON CONFLICT DO NOTHING`` before locking (rather than upserting the
    new value afterwards) means two processes meeting a new limit cannot both be granted
    on the strength of a row neither of them saw.
    """
    select = "SELECT tat FROM rate_limits WHERE name = ?" + tx.dialect.for_update
    row = tx.one(select, (name,))
    if row is None:
        tx.execute(
            "INSERT INTO rate_limits (name, tat) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            (name,),
        )
        row = tx.one(select, (name,))
        assert row is not None
    return int(row[0])
