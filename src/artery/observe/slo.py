"""SLOs from the runtime's own records: each integration's events and bad events over its
window, the error budget left, burn rates over the alerting windows, and which burn-rate
alert those records say is firing. No metrics server is needed: ``observe_minutes``
(written by ``Records``) holds the counts, and one read transaction sums them.

An event counts once it is settled: delivered (good, or bad when later than the SLO's
``sync_within``) or dead-lettered (bad). Events still being retried count when they
settle. Counts are per minute, so windows are whole minutes ending with the current one.

The burn rate over a window is the window's error ratio divided by the budget
(``1 - success``): at 1 the budget lasts exactly the SLO window. The alerts are the
multi-window, multi-burn-rate pairs of Google's SRE workbook ("Alerting on SLOs"): a
long window says the burn is significant, a short one that it is still going on.
``slo_rules`` turns the same ``ALERTS`` into Prometheus rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from artery.observe.declare import Slo
from artery.store import SqlStore
from artery.store.protocol import Tx

_MINUTE_US = 60_000_000
_MICROS = 1_000_000


@dataclass(frozen=True)
class Window:
    name: str  # as Prometheus writes a range: "5m", "1d"
    seconds: int


WINDOWS = (
    Window("5m", 300),
    Window("30m", 1800),
    Window("1h", 3600),
    Window("2h", 7200),
    Window("6h", 21600),
    Window("1d", 86400),
    Window("3d", 259200),
)


@dataclass(frozen=True)
class BurnAlert:
    """Fires when the burn rate exceeds ``factor`` over both ``long`` and ``short``."""

    severity: str
    long: str
    short: str
    factor: float


ALERTS = (  # most severe first: the first pair that holds names the firing alert
    BurnAlert("page", "1h", "5m", 14.4),
    BurnAlert("page", "6h", "30m", 6.0),
    BurnAlert("ticket", "1d", "2h", 3.0),
    BurnAlert("ticket", "3d", "6h", 1.0),
)


def budget_of(slo: Slo) -> float:
    """The share of events allowed to be bad, without float noise (1 - 0.999 is not
    0.001 in binary; rules and records must agree on the threshold)."""
    return round(slo.budget, 12)


@dataclass(frozen=True)
class Counts:
    events: int
    bad: int

    def burn(self, budget: float) -> float:
        """The error ratio as a multiple of the budget; 0 without events."""
        return self.bad / self.events / budget if self.events else 0.0


@dataclass(frozen=True)
class SloStatus:
    """One SLO as the records see it: counts over its window and over each burn window."""

    slo: Slo
    window: Counts
    burns: Mapping[str, Counts]

    @property
    def sli(self) -> float | None:
        """The share of good events over the window; None without events."""
        w = self.window
        return (w.events - w.bad) / w.events if w.events else None

    @property
    def budget_remaining(self) -> float:
        """The share of the window's error budget not spent: 1 when nothing went wrong
        (or nothing happened), 0 when spent, below 0 when overspent."""
        w = self.window
        return 1.0 - w.bad / (w.events * budget_of(self.slo)) if w.events else 1.0

    @property
    def burn_rates(self) -> dict[str, float]:
        budget = budget_of(self.slo)
        return {name: counts.burn(budget) for name, counts in self.burns.items()}

    @property
    def alert(self) -> str | None:
        """``page``, ``ticket`` or None: the most severe burn-rate alert that holds."""
        rates = self.burn_rates
        for rule in ALERTS:
            if rates[rule.long] > rule.factor and rates[rule.short] > rule.factor:
                return rule.severity
        return None

    def describe(self, runbook: str | None = None) -> dict[str, Any]:
        """As the admin API and ``artery slo status --json`` show it."""
        slo = self.slo
        return {
            "integration": slo.integration,
            "objective": slo.success,
            "window": duration(slo.window),
            "window_s": slo.window,
            "sync_within": None if slo.sync_within is None else duration(slo.sync_within),
            "sync_within_s": slo.sync_within,
            "events": self.window.events,
            "bad": self.window.bad,
            "sli": self.sli,
            "budget_remaining": self.budget_remaining,
            "burn_rates": self.burn_rates,
            "alert": self.alert,
            "runbook": runbook,
        }


async def statuses(store: SqlStore, slos: Iterable[Slo], now: float) -> list[SloStatus]:
    """Every SLO's status at ``now``, read in one snapshot of the records."""
    chosen = sorted(slos, key=lambda s: s.integration)
    return await store.read(lambda tx: [_status(tx, slo, now) for slo in chosen])


def _status(tx: Tx, slo: Slo, now: float) -> SloStatus:
    spans = [slo.window, *(w.seconds for w in WINDOWS)]
    starts = [_start(now, span) for span in spans]
    sums = ", ".join(
        "COALESCE(SUM(CASE WHEN minute >= ? THEN delivered + dead ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN minute >= ? THEN late + dead ELSE 0 END), 0)"
        for _ in spans
    )
    row = tx.one(
        f"SELECT {sums} FROM observe_minutes WHERE integration = ? AND minute >= ?",
        [*(s for start in starts for s in (start, start)), slo.integration, min(starts)],
    )
    values = [int(v) for v in row or [0] * 2 * len(spans)]
    counts = [Counts(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    burns = {w.name: c for w, c in zip(WINDOWS, counts[1:], strict=True)}
    return SloStatus(slo, counts[0], burns)


def _start(now: float, span: float) -> int:
    """The first minute (in the records' microseconds) of a window of ``span`` seconds
    ending with the minute that holds ``now``."""
    now_us = int(now * _MICROS)
    current = now_us - now_us % _MINUTE_US
    return current + _MINUTE_US - int(span * _MICROS)


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that writes it whole: 300 -> "5m", 2592000 ->
    "30d", 0.5 -> "500ms"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


__all__ = [
    "ALERTS",
    "WINDOWS",
    "BurnAlert",
    "Counts",
    "SloStatus",
    "Window",
    "budget_of",
    "duration",
    "statuses",
]
