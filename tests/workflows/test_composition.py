"""Child workflows, exactly-once publish, event-started runs, schedules, operations."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from workflow_helpers import make_app, status_is

from artery import (
    Cancelled,
    Conflict,
    DeliveryContext,
    Event,
    WorkflowContext,
    WorkflowError,
)
from artery.workflows import Scheduler, Status
from support import eventually

ORDER = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}


async def test_child_workflow_result_flows_to_the_parent(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def price(ctx: WorkflowContext, sku: str) -> int:
        await ctx.sleep(1.2)  # the parent parks while the child sleeps
        return len(sku) * 10

    @app.workflow()
    async def quote(ctx: WorkflowContext, skus: list[str]) -> int:
        return sum([await ctx.child(price, sku) for sku in skus])

    async with app.running():
        handle = await app.start_workflow("quote", ["ab", "abc"])
        assert await handle.result(timeout=15) == 50
        children = await app.workflows.list(workflow="price")
    assert sorted(c.run_id for c in children) == [f"{handle.run_id}/0", f"{handle.run_id}/1"]


async def test_failed_child_fails_the_parent_step(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def broken(ctx: WorkflowContext, _: None) -> None:
        raise ValueError("child cannot")

    @app.workflow()
    async def parent(ctx: WorkflowContext, _: None) -> str:
        try:
            await ctx.child("broken")
        except WorkflowError as exc:
            return f"child {exc.status}"
        return "no"

    async with app.running():
        assert await (await app.start_workflow("parent")).result(timeout=10) == "child failed"


async def test_publish_happens_once_per_position_even_when_replayed(store_url: str) -> None:
    app = make_app(store_url)
    shipped = app.contract("order.shipped", schema=ORDER, partitions=1)
    seen: Counter[str] = Counter()

    @app.consumer(shipped, group="crm")
    async def crm(event: Event, ctx: DeliveryContext) -> None:
        seen[event.data["id"]] += 1

    @app.workflow()
    async def ship(ctx: WorkflowContext, order: str) -> str:
        event_id = await ctx.publish(shipped, {"id": order})
        await ctx.sleep(1.2)  # parks; the replay passes the publish again
        return event_id

    async with app.running():
        handle = await app.start_workflow("ship", "A-9")
        event_id = await handle.result(timeout=10)
        await asyncio.sleep(0.3)
        stored = await app.log.read("order.shipped", 0, 0)
    assert [e.id for e in stored] == [event_id]
    assert seen == Counter({"A-9": 1})


async def test_an_event_starts_one_run_even_when_redelivered(store_url: str) -> None:
    app = make_app(store_url)
    placed = app.contract("order.placed", schema=ORDER)
    runs: Counter[str] = Counter()

    @app.workflow(on=placed)
    async def onboard(ctx: WorkflowContext, order: dict) -> None:
        runs[order["id"]] += 1

    async with app.running():
        event = await app.publish(placed, {"id": "A-1"})
        while not await app.workflows.list(workflow="onboard", status="completed"):
            await asyncio.sleep(0.02)
        assert (await app.workflows.list(workflow="onboard"))[0].run_id == f"onboard:{event.id}"
    async with app.running(None):
        await app.log.reset("workflow.onboard", "order.placed", to="earliest")
    async with app.running():
        await asyncio.sleep(0.5)
        assert len(await app.workflows.list(workflow="onboard")) == 1
    assert runs == Counter({"A-1": 1})


async def test_schedule_fires_once_per_tick_across_workers(store_url: str) -> None:
    apps = [make_app(store_url), make_app(store_url)]
    for app in apps:

        @app.schedule(every="1s")
        async def tick(ctx: WorkflowContext, _: None) -> None:
            return None

    async with apps[0].running(), apps[1].running():
        await asyncio.sleep(3.2)
        runs = await apps[0].workflows.list(workflow="tick")
    ids = [r.run_id for r in runs]
    assert 2 <= len(ids) <= 4
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("schedule:tick:") for i in ids)


async def test_missed_ticks_catch_up_or_skip(store_url: str) -> None:
    for catch_up, expected in ((True, 5), (False, 1)):
        app = make_app(store_url)
        name = f"report-{catch_up}"

        @app.schedule(every="60s", name=name, catch_up=catch_up)
        async def report(ctx: WorkflowContext, _: None) -> None:
            return None

        async with app.running(None):
            scheduler = Scheduler(app.schedules, app.workflows)
            scheduler.runtime = app.runtime
            now = time.time()
            assert await scheduler.fire_due(app.schedules[0], now) == []
            started = await scheduler.fire_due(app.schedules[0], now + 300)
            assert len(started) == expected
            assert await scheduler.fire_due(app.schedules[0], now + 300) == []


async def test_cancel_runs_compensations_and_ends_cancelled(store_url: str) -> None:
    app = make_app(store_url)
    undone: list[str] = []

    async def reserve() -> str:
        return "r-1"

    async def release(reservation: str) -> None:
        undone.append(reservation)

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> None:
        await ctx.step(reserve, compensate=release)
        await ctx.wait_for_signal("never")

    async with app.running():
        handle = await app.start_workflow("flow")
        await asyncio.sleep(0.3)
        await app.workflows.cancel(handle.run_id)
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
        with pytest.raises(Conflict):
            await app.workflows.cancel(handle.run_id)
    assert info.value.status == "cancelled"
    assert undone == ["r-1"]


async def test_patched_keeps_old_runs_on_the_old_path(store_url: str) -> None:
    def build(new_code: bool):  # type: ignore[no-untyped-def]
        app = make_app(store_url)

        async def old_step() -> str:
            return "old"

        async def new_step() -> str:
            return "new"

        @app.workflow()
        async def flow(ctx: WorkflowContext, _: None) -> str:
            first = await ctx.step(old_step)
            if new_code and await ctx.patched("use-new-step"):
                second = await ctx.step(new_step)
            else:
                second = await ctx.step(old_step, name="old_again")
            await ctx.sleep(1.2)  # the old run is parked here, past the patch point
            return first + "+" + second

        return app

    async with build(new_code=False).running() as app:
        await app.start_workflow("flow", id="before-deploy")
        await asyncio.sleep(0.2)
    async with build(new_code=True).running() as app:
        await app.start_workflow("flow", id="after-deploy")
        old = await app.workflows.handle("before-deploy").result(timeout=10)
        new = await app.workflows.handle("after-deploy").result(timeout=10)
    assert old == "old+old"
    assert new == "old+new"


async def test_show_lists_inputs_steps_timing_and_attempts(store_url: str) -> None:
    app = make_app(store_url)

    async def one() -> int:
        return 1

    @app.workflow()
    async def flow(ctx: WorkflowContext, data: dict) -> int:
        return await ctx.step(one)

    async with app.running():
        handle = await app.start_workflow("flow", {"x": 1})
        await handle.result(timeout=10)
        detail = await app.workflows.show(handle.run_id)
        assert [r.run_id for r in await app.workflows.list(status="completed")] == [handle.run_id]
    assert detail.run.input == {"x": 1}
    (step,) = detail.steps
    assert step.finished_at >= step.started_at and step.attempts == 1
    assert detail.run.status is Status.COMPLETED


def cancellable_app(store_url: str, undone: list[str]):  # type: ignore[no-untyped-def]
    app = make_app(store_url)

    async def reserve(who: str) -> str:
        return f"r-{who}"

    async def release(reservation: str, who: str) -> None:
        undone.append(reservation)

    @app.workflow()
    async def dozer(ctx: WorkflowContext, who: str) -> None:
        await ctx.step(reserve, who, compensate=release)
        await ctx.sleep("1h")

    @app.workflow()
    async def parent(ctx: WorkflowContext, _: None) -> None:
        await ctx.step(reserve, "parent", compensate=release)
        await ctx.child("dozer", "child")

    return app


async def test_cancel_wakes_a_sleeping_run_at_once(store_url: str) -> None:
    undone: list[str] = []
    app = cancellable_app(store_url, undone)
    async with app.running():
        handle = await app.start_workflow("dozer", "solo", id="dozer")
        await eventually(lambda: status_is(app, "dozer", Status.SLEEPING), "the run to sleep")
        await app.workflows.cancel("dozer")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)  # not an hour
    assert info.value.status == "cancelled"
    assert undone == ["r-solo"]


async def test_cancelling_a_parent_cancels_its_children(store_url: str) -> None:
    undone: list[str] = []
    app = cancellable_app(store_url, undone)
    async with app.running():
        handle = await app.start_workflow("parent", id="p")
        await eventually(lambda: status_is(app, "p/1", Status.SLEEPING), "the child to sleep")
        await app.workflows.cancel("p")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
        with pytest.raises(WorkflowError) as child:
            await app.workflows.handle("p/1").result(timeout=10)
    assert (info.value.status, child.value.status) == ("cancelled", "cancelled")
    assert sorted(undone) == ["r-child", "r-parent"]


async def test_child_input_that_cannot_be_stored_fails_the_parent_with_a_clear_error(
    store_url: str,
) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def kid(ctx: WorkflowContext, _: object) -> None:
        return None

    @app.workflow()
    async def parent(ctx: WorkflowContext, _: None) -> None:
        await ctx.child("kid", {"ids": {1, 2}})

    async with app.running():
        with pytest.raises(WorkflowError) as info:
            await (await app.start_workflow("parent")).result(timeout=10)
    assert "the input of child workflow 'kid' cannot be encoded as JSON" in info.value.message


@pytest.mark.parametrize("after_catching", ["steps on", "returns"])
async def test_catching_cancelled_cleans_up_but_cannot_refuse_the_cancel(
    store_url: str, after_catching: str
) -> None:
    app = make_app(store_url)
    undone: list[str] = []
    cleaned: list[str] = []
    ran_after: list[str] = []

    async def reserve() -> str:
        return "r-1"

    async def release(reservation: str) -> None:
        undone.append(reservation)

    async def ship() -> str:
        ran_after.append("ship")
        return "shipped"

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> str:
        await ctx.step(reserve, compensate=release)
        try:
            await ctx.wait_for_signal("never")
        except Cancelled:
            cleaned.append("cleanup")  # e.g. let go of something held outside a step
            if after_catching == "steps on":
                return str(await ctx.step(ship))
            return "refused the cancel"
        return "signalled"

    async with app.running():
        handle = await app.start_workflow("flow", id="flow")
        await eventually(
            lambda: status_is(app, "flow", Status.WAITING), "the run to wait for the signal"
        )
        await app.workflows.cancel(handle.run_id)
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert info.value.status == "cancelled"
    assert cleaned and undone == ["r-1"] and ran_after == []
