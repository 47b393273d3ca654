"""Schedules: start a workflow once per tick, however many workers run the schedule.

Each tick's run id is derived from the schedule and the tick time, so workers racing on
the same tick all try to create the same run and only one succeeds. Ids carry the tick to
the second, plus microseconds when it falls between seconds: every tick of a sub-second
period gets its own run, and whole-second ticks keep the ids they always had, so a tick
started before an upgrade is not started again after it. ``last_tick`` in the
store remembers how far the schedule got, so ticks missed while everything was down are
either started (catch-up) or skipped except the latest.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from croniter import croniter

from artery.envelope import encode_json
from artery.errors import ConfigError
from artery.store import Tx
from artery.workflows.definition import Schedule

if TYPE_CHECKING:
    from artery.runtime import Runtime
    from artery.workflows.operations import Workflows

log = logging.getLogger("artery.schedules")
MAX_CATCH_UP = 1000
MIN_PERIOD = 0.001  # seconds; shorter periods are a mistake, not a schedule


def validate(schedule: Schedule) -> None:
    if (schedule.cron is None) == (schedule.every is None):
        raise ConfigError(
            f"schedule {schedule.name!r} needs exactly one of cron or every",
            fix='write @app.schedule("*/5 * * * *") or @app.schedule(every="30s")',
        )
    if schedule.cron is not None and not croniter.is_valid(schedule.cron):
        raise ConfigError(
            f"schedule {schedule.name!r}: {schedule.cron!r} is not a cron expression",
            fix="use five fields: minute hour day-of-month month day-of-week",
        )
    encode_json(schedule.input, f"schedule {schedule.name!r}: its input")
    if schedule.every is not None and schedule.every < MIN_PERIOD:
        raise ConfigError(
            f"schedule {schedule.name!r}: every={schedule.every!r}s is too short",
            fix="use a period of at least 1ms, e.g. every='500ms'",
        )


def ticks_between(schedule: Schedule, after: float, until: float) -> list[float]:
    """Tick times t with after < t <= until (epoch seconds), oldest first."""
    if schedule.every is not None:  # whole microseconds: no float drift between ticks
        period = round(schedule.every * 1_000_000)
        last = round(until * 1_000_000) // period
        first = max(round(after * 1_000_000) // period + 1, last - MAX_CATCH_UP + 1)
        return [n * period / 1_000_000 for n in range(first, last + 1)]
    out: list[float] = []
    it = croniter(schedule.cron, datetime.fromtimestamp(after, UTC))
    while len(out) < MAX_CATCH_UP:
        tick = float(it.get_next(float))
        if tick > until:
            break
        out.append(tick)
    return out


class Scheduler:
    """Fires each schedule from a loop of its own, so one that keeps failing (an input that
    cannot be stored, a store error) delays no other; a failing loop is logged once per
    streak, backs off and reports the process unhealthy until it fires again."""

    def __init__(self, schedules: list[Schedule], runs: Workflows, interval: float = 0.5) -> None:
        self.schedules = schedules
        self.runs = runs
        self.interval = interval
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._tasks = [
            asyncio.create_task(self._loop(s), name=f"artery-schedule-{s.name}")
            for s in self.schedules
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self, schedule: Schedule) -> None:
        guard = self.runtime.health.guard(f"schedule {schedule.name}", log)
        while True:
            try:
                await self.fire_due(schedule, self.runtime.clock.now())
            except Exception as exc:
                await guard.failed(exc)
                continue
            guard.ok()
            await asyncio.sleep(self.interval)

    async def fire_due(self, schedule: Schedule, now: float) -> list[str]:
        """Start the runs of every due tick; returns their run ids."""
        last = await self.runtime.store.write(lambda tx: _last_tick(tx, schedule.name, now))
        due = ticks_between(schedule, last, now)
        if not due:
            return []
        if not schedule.catch_up:
            due = due[-1:]
        started = []
        for tick in due:
            handle = await self.runs.start(
                schedule.workflow,
                schedule.input,
                id=run_id(schedule, tick),
                started_by="schedule",
            )
            started.append(handle.run_id)
        reached = round(due[-1] * 1_000_000)
        await self.runtime.store.write(
            lambda tx: tx.execute(
                "UPDATE workflow_schedules SET last_tick = ? WHERE name = ? AND last_tick < ?",
                (reached, schedule.name, reached),
            )
        )
        return started


def run_id(schedule: Schedule, tick: float) -> str:
    """The run of one tick: to the second, and to the microsecond between seconds."""
    whole, fraction = divmod(round(tick * 1_000_000), 1_000_000)
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y%m%dT%H%M%S")
    return f"schedule:{schedule.name}:{stamp}{f'.{fraction:06d}' if fraction else ''}Z"


def _last_tick(tx: Tx, name: str, now: float) -> float:
    """The last tick handled; a new schedule starts from now (no firing for the past)."""
    row = tx.one("SELECT last_tick FROM workflow_schedules WHERE name = ?", (name,))
    if row is not None:
        return int(row[0]) / 1e6
    tx.execute(
        "INSERT INTO workflow_schedules (name, last_tick) VALUES (?, ?)"
        " ON CONFLICT (name) DO NOTHING",
        (name, int(now * 1e6)),
    )
    return now
