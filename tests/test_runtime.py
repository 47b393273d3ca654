"""The Runtime is what every component shares: one store, registry, log and clock, opened
the same way for the app and the CLI. Its clock is injectable, so time-driven behaviour is
tested by setting the time instead of sleeping."""

from __future__ import annotations

import time

from artery import App, Event, Retention, Settings, WorkflowContext
from artery.clock import ManualClock, SystemClock
from artery.runtime import open_runtime
from support import eventually

DAY = 24 * 3600.0


async def test_open_runtime_builds_store_registry_log_and_clock_on_one_store(
    store_url: str,
) -> None:
    clock = ManualClock(time.time())
    async with open_runtime(Settings(store=store_url), clock=clock) as runtime:
        await runtime.registry.register("orders", {"type": "object"})
        await runtime.log.create_topic("orders", "orders", partitions=1)
        (event,) = await runtime.log.append(
            "orders", [Event(type="orders", source="artery://test", data={"n": 1})]
        )
        assert runtime.clock is clock and runtime.log.clock is clock
        assert await runtime.log.read("orders", 0, 0) == [event]
    async with open_runtime(Settings(store=store_url)) as reopened:
        assert isinstance(reopened.clock, SystemClock)
        assert [t.name for t in await reopened.log.topics()] == ["orders"]


async def test_retention_ages_events_by_the_runtime_clock(store_url: str) -> None:
    clock = ManualClock(time.time())
    app = App("shop", store=store_url, clock=clock)
    app.contract("orders", schema={"type": "object"}, partitions=1, retention=Retention(DAY))
    async with app.running(None):
        for n in range(3):
            await app.publish("orders", {"n": n})
        assert await app.log.trim("orders") == 0, "a fresh event is younger than a day"
        clock.advance(2 * DAY)
        assert await app.log.trim("orders") == 3
        assert await app.log.read("orders", 0, 0) == []


async def test_schedules_fire_by_the_runtime_clock_not_the_wall(sqlite_url: str) -> None:
    clock = ManualClock(time.time())
    app = App("shop", store=sqlite_url, clock=clock)

    @app.schedule(every="1h", catch_up=True)
    async def hourly(ctx: WorkflowContext, _: None) -> None:
        return None

    async with app.running():

        async def runs() -> int:
            return len(await app.workflows.list(workflow="hourly"))

        await eventually(lambda: _settled(app), "the scheduler to record its first look")
        assert await runs() == 0, "no hour has passed on the runtime's clock"
        clock.advance(3 * 3600)

        async def three() -> bool:
            return await runs() == 3

        await eventually(three, "the three missed hourly ticks to start runs")


async def _settled(app: App) -> bool:
    rows = await app.store.read(lambda tx: tx.execute("SELECT name FROM workflow_schedules"))
    return len(rows) == 1
