"""Schedules: one run per tick, however short the period, and a broken schedule stays alone."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
from workflow_helpers import FullDisk, make_app

from artery import App, ConfigError, InvalidEvent, WorkflowContext
from artery.workflows import Schedule, Scheduler
from support import eventually


async def test_sub_second_ticks_each_start_their_own_run(store_url: str) -> None:
    app = make_app(store_url)

    @app.schedule(every="500ms", catch_up=True)
    async def pulse(ctx: WorkflowContext, _: None) -> None:
        return None

    async with app.running(None):
        scheduler = Scheduler(app.schedules, app.workflows)
        scheduler.runtime = app.runtime
        now = float(math.floor(time.time()))
        assert await scheduler.fire_due(app.schedules[0], now) == []
        started = await scheduler.fire_due(app.schedules[0], now + 3)
        runs = await app.workflows.list(workflow="pulse")
    assert len(set(started)) == 6
    assert len(runs) == 6


async def test_whole_second_ticks_keep_the_run_ids_they_had(store_url: str) -> None:
    app = make_app(store_url)

    @app.schedule(every="60s", name="report")
    async def report(ctx: WorkflowContext, _: None) -> None:
        return None

    async with app.running(None):
        scheduler = Scheduler(app.schedules, app.workflows)
        scheduler.runtime = app.runtime
        now = time.time()
        await scheduler.fire_due(app.schedules[0], now)
        [started] = await scheduler.fire_due(app.schedules[0], now + 60)
    tick = math.floor((now + 60) / 60) * 60
    stamp = datetime.fromtimestamp(tick, UTC).strftime("%Y%m%dT%H%M%SZ")
    assert started == f"schedule:report:{stamp}"


def test_a_period_shorter_than_a_millisecond_is_refused() -> None:
    app = make_app("sqlite:///unused.db")
    with pytest.raises(ConfigError, match="at least 1ms"):

        @app.schedule(every=0.0001)
        async def frantic(ctx: WorkflowContext, _: None) -> None:
            return None


async def test_a_schedule_whose_input_cannot_be_stored_does_not_stop_the_others(
    store_url: str,
) -> None:
    app = make_app(store_url)

    @app.schedule(every="200ms", name="good")
    async def beat(ctx: WorkflowContext, _: None) -> None:
        return None

    # Declared behind validation's back, as an input mutated after declaration would be.
    app.schedules.insert(0, Schedule("bad", "beat", every=0.2, input={"ids": {1, 2}}))
    async with app.running():
        await eventually(lambda: _runs_of(app, "good", at_least=3), "the good schedule to fire")
        [failure] = app.health.failures()
    assert failure.loop == "schedule bad"
    assert "the input of workflow 'beat' cannot be encoded as JSON" in failure.error


async def test_the_scheduler_survives_a_store_error_and_reports_it_meanwhile(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(store_url)

    @app.schedule(every="200ms", name="beat")
    async def beat(ctx: WorkflowContext, _: None) -> None:
        return None

    async with app.running():
        disk = FullDisk(app, monkeypatch)
        await eventually(
            lambda: "schedule beat" in {f.loop for f in app.health.failures()},
            "the schedule's failure to be reported",
        )
        disk.free()
        await eventually(lambda: _runs_of(app, "beat", at_least=2), "the schedule to fire again")
        await eventually(lambda: app.health.healthy, "the process to recover")


async def _runs_of(app: App, schedule: str, at_least: int) -> bool:
    runs = await app.workflows.list(workflow="beat")
    return len([r for r in runs if r.run_id.startswith(f"schedule:{schedule}:")]) >= at_least


def test_a_schedule_input_that_cannot_be_stored_is_refused_when_declared() -> None:
    app = make_app("sqlite:///unused.db")
    with pytest.raises(InvalidEvent, match="schedule 'odd': its input cannot be encoded as JSON"):

        @app.schedule(every="1m", name="odd", input={"ids": {1, 2}})
        async def odd(ctx: WorkflowContext, _: None) -> None:
            return None
