"""An integration's recent history, read from the records every working process writes:
outcomes per time bin (for the console's charts) and time to sync p50 and p99 over a
window (from the per-minute bucket counts of ``observe_sync``).

Quantiles are estimated as Prometheus' ``histogram_quantile`` does: linearly inside the
bucket the rank falls in. They are exact to the bucket bounds (``records.SYNC_BOUNDS``),
which is what a chart and an alert need; a quantile in the open last bucket is reported as
its lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from artery.observe.records import SYNC_BOUNDS
from artery.store import Store
from artery.store.protocol import Tx

_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Bin:
    """Outcomes of one integration in one time bin (its start, unix seconds)."""

    start: float
    delivered: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class Window:
    """One integration over one window: bins oldest first, and time to sync."""

    bins: list[Bin]
    p50: float | None
    p99: float | None
    synced: int


async def windows(store: Store, now: float, span: float, bins: int) -> dict[str, Window]:
    """Every integration with records in the last ``span`` seconds, in ``bins`` bins."""
    return await store.read(lambda tx: _windows(tx, now, span, bins))


def _windows(tx: Tx, now: float, span: float, count: int) -> dict[str, Window]:
    end = (int(now * 1e6) // _MINUTE_US + 1) * _MINUTE_US
    start = end - int(span * 1e6)
    width = max(_MINUTE_US, (end - start) // count)
    outcomes = tx.execute(
        "SELECT integration, (minute - ?) / ?, SUM(delivered), SUM(failed), SUM(dead)"
        " FROM observe_minutes WHERE minute >= ? AND minute < ? GROUP BY 1, 2",
        (start, width, start, end),
    )
    series: dict[str, dict[int, Bin]] = {}
    for integration, index, delivered, failed, dead in outcomes:
        at = (start + int(index) * width) / 1e6
        series.setdefault(integration, {})[int(index)] = Bin(
            at, int(delivered), int(failed), int(dead)
        )
    buckets = tx.execute(
        "SELECT integration, bucket, SUM(events) FROM observe_sync"
        " WHERE minute >= ? AND minute < ? GROUP BY 1, 2",
        (start, end),
    )
    counts: dict[str, list[int]] = {}
    for integration, bucket, events in buckets:
        row = counts.setdefault(integration, [0] * (len(SYNC_BOUNDS) + 1))
        row[min(int(bucket), len(SYNC_BOUNDS))] += int(events)
    found = {}
    for name in series.keys() | counts.keys():
        by_index = series.get(name, {})
        filled = [
            by_index.get(i, Bin((start + i * width) / 1e6)) for i in range((end - start) // width)
        ]
        row = counts.get(name, [])
        found[name] = Window(filled, quantile(row, 0.5), quantile(row, 0.99), sum(row))
    return found


def quantile(counts: list[int], q: float) -> float | None:
    """The ``q`` quantile of bucket ``counts`` (one per ``SYNC_BOUNDS`` and the rest)."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, n in enumerate(counts):
        if n and seen + n >= rank:
            if index >= len(SYNC_BOUNDS):
                return SYNC_BOUNDS[-1]
            low = SYNC_BOUNDS[index - 1] if index else 0.0
            return low + (SYNC_BOUNDS[index] - low) * (rank - seen) / n
        seen += n
    return SYNC_BOUNDS[-1]
