"""The runtime's own record of outcomes (``observe/schema.py`` has the tables): counted in
memory per delivery, written once a second, so SLO budgets, ``artery status`` and the ROI
report read the store, not a metrics server.

What a delivery costs here is a dictionary update; the writes are one transaction per
interval whatever the throughput. A failing write keeps its counts, backs off and marks
the process unhealthy (``Health.guard``), like every background loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from artery.observe.declare import Slo
from artery.runtime import Runtime
from artery.store import SqlStore
from artery.store.protocol import Tx

log = logging.getLogger("artery.observe")
KEPT_DAYS = 100  # minutes older than this are deleted (longer than any usual SLO window)
_MINUTE_US = 60_000_000
_DELIVERED, _LATE, _DEAD, _FAILED, _RETRIED = range(5)
# Upper bounds (seconds) of the time-to-sync buckets kept per minute; one more bucket holds
# everything slower. p50 and p99 over an hour or a day are read from their sums.
SYNC_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Labels(NamedTuple):
    """Who an outcome belongs to: bounded names, never ids."""

    integration: str
    partner: str
    consumer: str
    event_type: str


class _Streak:
    """A partner's outcomes within one interval, for its incidents."""

    __slots__ = ("first_fail", "first_ok", "last_fail", "last_ok")

    def __init__(self) -> None:
        self.first_fail: int | None = None
        self.last_fail: int | None = None
        self.first_ok: int | None = None
        self.last_ok: int | None = None


class Records:
    """A service of working processes: aggregates outcomes and writes them per interval."""

    def __init__(
        self,
        integrations: Iterable[str],
        slos: Mapping[str, Slo],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.integrations = sorted(set(integrations))
        self.late_after = {name: s.sync_within for name, s in slos.items() if s.sync_within}
        self.interval = interval
        self.clock = clock
        self._minutes: dict[tuple[str, str, str, int], list[int]] = {}
        self._sync: dict[tuple[str, int, int], int] = {}  # (integration, minute, bucket)
        self._current: dict[Labels, tuple[int, list[int]]] = {}  # each lane's minute row
        self._streaks: dict[tuple[str, str], _Streak] = {}
        self._delivered_first: dict[str, int] = {}
        self._marked: set[str] = set()  # integrations whose first delivery is on record
        self._store: SqlStore | None = None
        self._task: asyncio.Task[None] | None = None
        self._swept_at = 0.0

    # -- counting (on the delivery path) -------------------------------------------------

    def _row(self, labels: Labels, now_us: int) -> list[int]:
        minute = now_us - now_us % _MINUTE_US
        current = self._current.get(labels)
        if current is not None and current[0] == minute:
            return current[1]
        key = (labels.integration, labels.partner, labels.consumer, minute)
        row = self._minutes.get(key)
        if row is None:
            row = self._minutes[key] = [0, 0, 0, 0, 0]
        self._current[labels] = (minute, row)
        return row

    def delivered(self, labels: Labels, synced_in: float | None) -> None:
        now = int(self.clock() * 1_000_000)
        row = self._row(labels, now)
        row[_DELIVERED] += 1
        if synced_in is not None:
            key = (labels.integration, now - now % _MINUTE_US, bisect_left(SYNC_BOUNDS, synced_in))
            self._sync[key] = self._sync.get(key, 0) + 1
            limit = self.late_after.get(labels.integration)
            if limit is not None and synced_in > limit:
                row[_LATE] += 1
        streak = self._streak(labels)
        if streak.first_ok is None:
            streak.first_ok = now
        streak.last_ok = now
        if labels.integration not in self._marked:
            self._delivered_first.setdefault(labels.integration, now)

    def failed(self, labels: Labels) -> None:
        now = int(self.clock() * 1_000_000)
        self._row(labels, now)[_FAILED] += 1
        streak = self._streak(labels)
        if streak.first_fail is None:
            streak.first_fail = now
        streak.last_fail = now

    def retried(self, labels: Labels) -> None:
        self._row(labels, int(self.clock() * 1_000_000))[_RETRIED] += 1

    def dead(self, labels: Labels) -> None:
        self._row(labels, int(self.clock() * 1_000_000))[_DEAD] += 1

    def _streak(self, labels: Labels) -> _Streak:
        key = (labels.integration, labels.partner)
        found = self._streaks.get(key)
        if found is None:
            found = self._streaks[key] = _Streak()
        return found

    # -- the service ----------------------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        self._store = runtime.store
        now = int(self.clock() * 1_000_000)
        names = [(name, now) for name in self.integrations]
        if names:
            await runtime.store.write(lambda tx: _declare(tx, names))
        guard = runtime.health.guard("observe-records", log)

        async def iteration() -> None:
            await asyncio.sleep(self.interval)
            await self.flush()

        self._task = asyncio.create_task(guard.run(iteration), name="artery-observe-records")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if self._store is None or not (self._minutes or self._streaks or self._delivered_first):
            return
        minutes, self._minutes = self._minutes, {}
        synced, self._sync = self._sync, {}
        self._current = {}
        streaks, self._streaks = self._streaks, {}
        firsts, self._delivered_first = self._delivered_first, {}
        sweep_before = None
        if self.clock() - self._swept_at > 3600:
            sweep_before = int((self.clock() - KEPT_DAYS * 86400) * 1_000_000)
        try:
            await self._store.write(
                lambda tx: _write(tx, minutes, synced, streaks, firsts, sweep_before)
            )
        except BaseException:
            for key, n in synced.items():
                self._sync[key] = self._sync.get(key, 0) + n
            for minute, counts in minutes.items():
                row = self._minutes.setdefault(minute, [0, 0, 0, 0, 0])
                for i, n in enumerate(counts):
                    row[i] += n
            for partner, streak in streaks.items():
                self._streaks.setdefault(partner, streak)
            for name, at in firsts.items():
                self._delivered_first.setdefault(name, at)
            raise
        if sweep_before is not None:
            self._swept_at = self.clock()
        self._marked.update(firsts)


def _declare(tx: Tx, names: list[tuple[str, int]]) -> None:
    tx.executemany(
        "INSERT INTO integration_milestones (integration, first_declared_at) VALUES (?, ?)"
        " ON CONFLICT (integration) DO NOTHING",
        names,
    )


def _write(
    tx: Tx,
    minutes: dict[tuple[str, str, str, int], list[int]],
    synced: dict[tuple[str, int, int], int],
    streaks: dict[tuple[str, str], _Streak],
    firsts: dict[str, int],
    sweep_before: int | None,
) -> None:
    tx.executemany(
        "INSERT INTO observe_minutes (integration, partner, consumer, minute, delivered, late,"
        " dead, failed, retried) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (integration, partner, consumer, minute) DO UPDATE SET"
        " delivered = observe_minutes.delivered + excluded.delivered,"
        " late = observe_minutes.late + excluded.late,"
        " dead = observe_minutes.dead + excluded.dead,"
        " failed = observe_minutes.failed + excluded.failed,"
        " retried = observe_minutes.retried + excluded.retried",
        [(*key, *counts) for key, counts in minutes.items()],
    )
    tx.executemany(
        "INSERT INTO observe_sync (integration, minute, bucket, events) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (integration, minute, bucket) DO UPDATE SET"
        " events = observe_sync.events + excluded.events",
        [(*key, n) for key, n in synced.items()],
    )
    for (integration, partner), streak in streaks.items():
        _incidents(tx, integration, partner, streak)
    tx.executemany(
        "UPDATE integration_milestones SET first_delivered_at = ?"
        " WHERE integration = ? AND first_delivered_at IS NULL",
        [(at, name) for name, at in firsts.items()],
    )
    if sweep_before is not None:
        tx.execute("DELETE FROM observe_minutes WHERE minute < ?", (sweep_before,))
        tx.execute("DELETE FROM observe_sync WHERE minute < ?", (sweep_before,))


def _incidents(tx: Tx, integration: str, partner: str, s: _Streak) -> None:
    """Open an incident at a partner's first failure, close it at its next success (any
    process may do either: the rows are the partner's, not the process's)."""
    if s.first_fail is not None and (s.first_ok is None or s.first_fail < s.first_ok):
        _open(tx, integration, partner, s.first_fail)
    if s.first_ok is not None:
        tx.execute(
            "UPDATE partner_incidents SET recovered_at = ? WHERE integration = ?"
            " AND partner = ? AND recovered_at IS NULL AND started_at <= ?",
            (s.first_ok, integration, partner, s.first_ok),
        )
    if s.last_fail is not None and s.last_ok is not None and s.last_fail > s.last_ok:
        _open(tx, integration, partner, s.last_fail)


def _open(tx: Tx, integration: str, partner: str, at: int) -> None:
    tx.execute(
        "INSERT INTO partner_incidents (integration, partner, started_at)"
        " SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM partner_incidents"
        " WHERE integration = ? AND partner = ? AND recovered_at IS NULL)",
        (integration, partner, at, integration, partner),
    )


def record_intervention(
    tx: Tx, kind: str, *, integration: str | None, actor: str | None, detail: str | None
) -> None:
    """Note what a person did by hand (``redrive``, ``signal``, ``resend``, ``replay``)."""
    tx.execute(
        "INSERT INTO interventions (at, kind, integration, actor, detail) VALUES (?, ?, ?, ?, ?)",
        (int(time.time() * 1_000_000), kind, integration, actor, (detail or "")[:200] or None),
    )


__all__ = ["KEPT_DAYS", "Labels", "Records", "record_intervention"]
