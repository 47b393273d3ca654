"""Time, from one place, so that tests can set it instead of sleeping.

Wall time (``now``, ``now_us``) is what the store records: when an event was appended, when
a retry is due, when a lease expires. It is shared between processes and may jump (NTP).
``monotonic`` only measures intervals inside one process (timeouts, backoff, cache ages)
and never goes backwards.

Code that is handed a ``Clock`` uses it; code that has none yet calls the module-level
``now_us``, which reads the system clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

from artery.errors import ConfigError

MICROS = 1_000_000


class Clock(Protocol):
    """The time a component sees."""

    def now(self) -> float:
        """Wall time, in seconds since the epoch."""
        ...

    def now_us(self) -> int:
        """Wall time, in whole microseconds since the epoch (the store's unit)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def now_us(self) -> int:
        return int(time.time() * MICROS)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told, for tests of timeouts, backoff and expiry.

    Wall and monotonic time advance together; ``set`` moves wall time only (as an NTP step
    would) and refuses to move monotonic time backwards.
    """

    def __init__(self, now: float = 1_700_000_000.0, *, monotonic: float = 0.0) -> None:
        self._now = now
        self._monotonic = monotonic

    def now(self) -> float:
        return self._now

    def now_us(self) -> int:
        return int(self._now * MICROS)

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock advances by a positive amount, not {seconds!r}")
        self._now += seconds
        self._monotonic += seconds

    def set(self, now: float) -> None:
        """Jump wall time to ``now`` (forwards or backwards); monotonic time stays put."""
        self._now = now


def now_us() -> int:
    """Wall time in microseconds from the system clock, for code not handed a ``Clock``.
    Spelled out rather than delegated: it runs on every append and checkpoint."""
    return int(time.time() * MICROS)


def iso_us(at_us: int) -> str:
    """Stored microseconds as the ISO 8601 UTC instant the admin API and CLI show."""
    return datetime.fromtimestamp(int(at_us) / MICROS, UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str, option: str) -> datetime:
    """An ISO 8601 instant with a timezone (a naive time would be ambiguous)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r} is not an ISO 8601 time", fix="use e.g. 2026-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{option} {text!r} has no timezone", fix="append Z or an offset")
    return parsed
