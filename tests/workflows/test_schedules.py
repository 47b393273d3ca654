"""Schedules: one run per tick, however short the period, and a broken schedule stays alone."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
from workflow_helpers import make_app

from artery import ConfigError, WorkflowContext
from artery.workflows import Scheduler


async def test_sub_second_ticks_each_start_their_own_run(store_url: str) -> None:
    app = make_app(store_url)

    @app.schedule(every="500ms", catch_up=True)
    async def pulse(ctx: WorkflowContext, _: None) -> None:
        return None

    async with app.running(workers=False):
        scheduler = Scheduler(app.schedules)
        scheduler.app = app
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

    async with app.running(workers=False):
        scheduler = Scheduler(app.schedules)
        scheduler.app = app
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
