"""The ROI report: the playbook's leading indicators, computed from the runtime's own
records (``observe/schema.py``, delivery's dead letters), never from a metrics server.

For a window ending now:

* interventions per 1,000 events: what people did by hand (``interventions.py``) against
  the events delivered or dead-lettered (``observe_minutes``), overall, by kind and by
  integration;
* mean time to recovery per partner: over the incidents (first failed attempt to the next
  success) that recovered in the window; incidents still open, with their age;
* time to first delivered event per integration: for those whose first event was delivered
  in the window, and every one still waiting (with how long it has waited);
* dead letters older than a day that nobody redrove, per integration (as of now: a
  backlog, not a count of the window's events).

Everything is read in one snapshot; the queries are aggregates, so the report costs the
same whatever the traffic. ``docs/roi.md`` says how to read each figure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from artery.clock import iso_us
from artery.delivery.dead_letters import open_before
from artery.durations import seconds
from artery.errors import ConfigError
from artery.observe.interventions import KINDS
from artery.store import Store, Tx

STALE_AFTER = 86400.0  # a dead letter nobody redrove for a day is a backlog, not a blip
_MINUTE_US = 60_000_000
_US = 1_000_000


@dataclass(frozen=True)
class Events:
    delivered: int
    dead: int
    total: int


@dataclass(frozen=True)
class KindRate:
    kind: str
    interventions: int
    per_1000_events: float | None  # None: no events in the window to compare with


@dataclass(frozen=True)
class IntegrationRate:
    integration: str | None  # None: noted without one (a group replay from the CLI)
    interventions: int
    events: int
    per_1000_events: float | None


@dataclass(frozen=True)
class Interventions:
    total: int
    per_1000_events: float | None
    by_kind: list[KindRate]
    by_integration: list[IntegrationRate]


@dataclass(frozen=True)
class PartnerRecovery:
    partner: str
    integrations: list[str]
    recovered: int  # incidents that ended in the window
    mean_seconds: float
    longest_seconds: float


@dataclass(frozen=True)
class OpenIncident:
    partner: str
    integration: str
    started_at: str
    age_seconds: float


@dataclass(frozen=True)
class Recovery:
    partners: list[PartnerRecovery]
    open: list[OpenIncident]


@dataclass(frozen=True)
class Onboarding:
    integration: str
    declared_at: str
    first_delivered_at: str | None
    seconds: float | None  # declared to first delivered; None while waiting
    waiting_seconds: float | None  # how long it has waited; None once delivered


@dataclass(frozen=True)
class StaleDeadLetters:
    integration: str | None  # None: buried before integrations were recorded
    count: int
    oldest_at: str
    oldest_age_seconds: float


@dataclass(frozen=True)
class Report:
    since: str
    until: str
    window_seconds: float
    events: Events
    interventions: Interventions
    recovery: Recovery
    onboarding: list[Onboarding]
    stale_dead_letters: list[StaleDeadLetters]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def window(value: str, parameter: str) -> float:
    """The report's window in seconds from "7d", "12h"...; a bad one is a ``ConfigError``
    naming ``parameter`` (``--since`` on the CLI, ``since`` in the admin API)."""
    try:
        found = seconds(value)
    except ConfigError:
        found = -1.0
    if found <= 0:
        raise ConfigError(
            f"{parameter} {value!r} is not a window of time",
            fix=f"give {parameter} a duration above zero with a unit: 12h, 7d, 30d",
        )
    return found


async def report(store: Store, *, since: float, now: float) -> Report:
    """The indicators for the ``since`` seconds before ``now`` (seconds since the epoch)."""
    now_us = int(now * _US)
    start_us = now_us - int(since * _US)
    return await store.read(lambda tx: _report(tx, start_us, now_us))


def _report(tx: Tx, start_us: int, now_us: int) -> Report:
    events = _events(tx, start_us, now_us)
    delivered = sum(d for d, _ in events.values())
    dead = sum(x for _, x in events.values())
    return Report(
        since=iso_us(start_us),
        until=iso_us(now_us),
        window_seconds=(now_us - start_us) / _US,
        events=Events(delivered, dead, delivered + dead),
        interventions=_interventions(tx, start_us, now_us, events),
        recovery=Recovery(_recovered(tx, start_us, now_us), _open(tx, now_us)),
        onboarding=_onboarding(tx, start_us, now_us),
        stale_dead_letters=[
            StaleDeadLetters(name, count, iso_us(oldest), (now_us - oldest) / _US)
            for name, count, oldest in sorted(
                open_before(tx, now_us - int(STALE_AFTER * _US)), key=lambda r: r[0] or ""
            )
        ],
    )


def _per_1000(count: int, events: int) -> float | None:
    return round(count * 1000 / events, 3) if events else None


def _events(tx: Tx, start_us: int, now_us: int) -> dict[str, tuple[int, int]]:
    """(delivered, dead) per integration, from the minutes that overlap the window."""
    rows = tx.execute(
        "SELECT integration, SUM(delivered), SUM(dead) FROM observe_minutes"
        " WHERE minute > ? AND minute <= ? GROUP BY integration",
        (start_us - _MINUTE_US, now_us),
    )
    return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}


def _interventions(
    tx: Tx, start_us: int, now_us: int, events: dict[str, tuple[int, int]]
) -> Interventions:
    rows = tx.execute(
        "SELECT kind, integration, COUNT(*) FROM interventions"
        " WHERE at >= ? AND at <= ? GROUP BY kind, integration",
        (start_us, now_us),
    )
    by_kind = dict.fromkeys(KINDS, 0)
    by_integration: dict[str | None, int] = dict.fromkeys(events, 0)
    for kind, integration, count in rows:
        by_kind[kind] = by_kind.get(kind, 0) + int(count)
        by_integration[integration] = by_integration.get(integration, 0) + int(count)
    rates = []
    for name, n in sorted(by_integration.items(), key=lambda item: item[0] or ""):
        seen = sum(events[name]) if name in events else 0
        rates.append(IntegrationRate(name, n, seen, _per_1000(n, seen)))
    total_events = sum(d + x for d, x in events.values())
    total = sum(by_kind.values())
    return Interventions(
        total=total,
        per_1000_events=_per_1000(total, total_events),
        by_kind=[KindRate(k, n, _per_1000(n, total_events)) for k, n in by_kind.items()],
        by_integration=rates,
    )


def _recovered(tx: Tx, start_us: int, now_us: int) -> list[PartnerRecovery]:
    """Per partner, over incidents recovered in the window (a partner that two
    integrations call has each one's incidents)."""
    rows = tx.execute(
        "SELECT partner, integration, COUNT(*), SUM(recovered_at - started_at),"
        " MAX(recovered_at - started_at) FROM partner_incidents"
        " WHERE recovered_at >= ? AND recovered_at <= ? GROUP BY partner, integration",
        (start_us, now_us),
    )
    merged: dict[str, tuple[list[str], int, int, int]] = {}
    for partner, integration, count, total, longest in rows:
        names, n, summed, most = merged.get(partner, ([], 0, 0, 0))
        merged[partner] = (
            [*names, integration],
            n + int(count),
            summed + int(total),
            max(most, int(longest)),
        )
    return [
        PartnerRecovery(partner, sorted(names), n, summed / n / _US, most / _US)
        for partner, (names, n, summed, most) in sorted(merged.items())
    ]


def _open(tx: Tx, now_us: int) -> list[OpenIncident]:
    rows = tx.execute(
        "SELECT partner, integration, started_at FROM partner_incidents"
        " WHERE recovered_at IS NULL ORDER BY started_at, partner, integration"
    )
    return [
        OpenIncident(partner, integration, iso_us(at), max(0, now_us - int(at)) / _US)
        for partner, integration, at in rows
    ]


def _onboarding(tx: Tx, start_us: int, now_us: int) -> list[Onboarding]:
    """Integrations whose first event was delivered in the window, and those waiting."""
    rows = tx.execute(
        "SELECT integration, first_declared_at, first_delivered_at FROM integration_milestones"
        " WHERE first_delivered_at IS NULL OR (first_delivered_at >= ? AND first_delivered_at"
        " <= ?) ORDER BY first_declared_at, integration",
        (start_us, now_us),
    )
    found = []
    for name, declared, delivered in rows:
        took = None if delivered is None else max(0, int(delivered) - int(declared)) / _US
        waited = None if delivered is not None else max(0, now_us - int(declared)) / _US
        shown = None if delivered is None else iso_us(delivered)
        found.append(Onboarding(name, iso_us(declared), shown, took, waited))
    return found


__all__ = ["STALE_AFTER", "Report", "report", "window"]
