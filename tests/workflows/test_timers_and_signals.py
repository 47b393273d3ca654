"""Durable timers and signals: runs wait without memory and wake after restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from workflow_helpers import make_app, status_is

from artery import (
    App,
    ConfigError,
    Conflict,
    NotFound,
    SignalTimeout,
    WorkflowContext,
    WorkflowError,
)
from artery.workflows import Status, WorkflowEngine
from support import eventually


def engine_of(app: App) -> WorkflowEngine:
    return next(s for s in app.services if isinstance(s, WorkflowEngine))


async def test_long_sleep_parks_the_run_and_wakes_after_a_restart(store_url: str) -> None:
    def build():  # type: ignore[no-untyped-def]
        app = make_app(store_url)

        @app.workflow()
        async def reminder(ctx: WorkflowContext, _: None) -> str:
            await ctx.sleep("2s")
            return "woke"

        return app

    async with build().running() as app:
        handle = await app.start_workflow("reminder", id="sleepy")
        await asyncio.sleep(0.3)
        run = await app.workflows.get("sleepy")
        assert run.status is Status.SLEEPING
        assert "sleepy" not in engine_of(app).running, "a parked run holds no task"
    await asyncio.sleep(0.5)
    async with build().running() as app:
        assert await app.workflows.handle("sleepy").result(timeout=10) == "woke"
    assert handle.run_id == "sleepy"


async def test_sleep_until_a_moment(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def alarm(ctx: WorkflowContext, at: str) -> str:
        await ctx.sleep_until(datetime.fromisoformat(at))
        return str(await ctx.now() >= datetime.fromisoformat(at))

    async with app.running():
        at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
        assert await (await app.start_workflow("alarm", at)).result(timeout=10) == "True"


def approval_app(store_url: str, undone: list[str]):  # type: ignore[no-untyped-def]
    app = make_app(store_url)

    async def hold_funds(amount: float) -> str:
        return f"hold-{amount}"

    async def release_funds(hold: str, amount: float) -> None:
        undone.append(hold)

    async def pay(amount: float) -> str:
        return f"refunded {amount}"

    @app.workflow()
    async def refund(ctx: WorkflowContext, request: dict) -> str:
        await ctx.step(hold_funds, request["amount"], compensate=release_funds)
        if request["amount"] > 1000:
            decision = await ctx.wait_for_signal("decision", timeout=request["timeout"])
            if decision != "approve":
                ctx.compensate()
        return await ctx.step(pay, request["amount"])

    return app


async def test_large_refund_waits_for_approval(store_url: str) -> None:
    undone: list[str] = []
    app = approval_app(store_url, undone)
    async with app.running():
        handle = await app.start_workflow("refund", {"amount": 5000, "timeout": "1h"}, id="r-1")
        await asyncio.sleep(0.3)
        assert (await app.workflows.get("r-1")).status is Status.WAITING
        await app.workflows.signal("r-1", "decision", "approve")
        assert await handle.result(timeout=10) == "refunded 5000"
    assert undone == []


async def test_rejected_refund_compensates(store_url: str) -> None:
    undone: list[str] = []
    app = approval_app(store_url, undone)
    async with app.running():
        handle = await app.start_workflow("refund", {"amount": 5000, "timeout": "1h"})
        await asyncio.sleep(0.2)
        await app.workflows.signal(handle.run_id, "decision", "reject")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert info.value.status == "compensated"
    assert undone == ["hold-5000"]


async def test_approval_timeout_compensates(store_url: str) -> None:
    undone: list[str] = []
    app = approval_app(store_url, undone)
    async with app.running():
        handle = await app.start_workflow("refund", {"amount": 5000, "timeout": "1.5s"})
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert info.value.status == "compensated"
    assert "SignalTimeout" in info.value.error["type"]
    assert undone == ["hold-5000"]


async def test_signal_sent_before_the_wait_is_kept(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> object:
        await ctx.sleep(1.5)
        return await ctx.wait_for_signal("go", timeout="10s")

    async with app.running():
        handle = await app.start_workflow("flow")
        await app.workflows.signal(handle.run_id, "go", {"early": True})
        assert await handle.result(timeout=10) == {"early": True}


async def test_signal_to_a_finished_run_is_refused(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def quick(ctx: WorkflowContext, _: None) -> int:
        return 1

    async with app.running():
        handle = await app.start_workflow("quick")
        await handle.result(timeout=10)
        with pytest.raises(Conflict, match="completed; it takes no more signals"):
            await app.workflows.signal(handle.run_id, "go")


async def test_uncaught_signal_timeout_reaches_the_code(store_url: str) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> str:
        try:
            await ctx.wait_for_signal("never", timeout="100ms")
        except SignalTimeout:
            return "gave up waiting"
        return "got it"

    async with app.running():
        assert await (await app.start_workflow("flow")).result(timeout=10) == "gave up waiting"


@pytest.mark.parametrize("wait", ["sleep", "signal", "child"])
async def test_durable_waits_cannot_be_skipped_by_except_exception(
    store_url: str, wait: str
) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def napper(ctx: WorkflowContext, _: None) -> str:
        await ctx.sleep("1.5s")
        return "child done"

    @app.workflow()
    async def careless(ctx: WorkflowContext, kind: str) -> str:
        try:
            if kind == "sleep":
                await ctx.sleep("1.5s")
            elif kind == "signal":
                await ctx.wait_for_signal("go")
            else:
                await ctx.child("napper")
        except Exception:
            return "skipped"
        return "waited"

    async with app.running():
        handle = await app.start_workflow("careless", wait)
        if wait == "signal":
            await eventually(
                lambda: status_is(app, handle.run_id, Status.WAITING), "the run to park"
            )
            await app.workflows.signal(handle.run_id, "go")
        assert await handle.result(timeout=10) == "waited"


@pytest.mark.parametrize("waits_on", ["signal", "child"])
async def test_a_waiting_run_stays_parked_while_another_signal_is_pending(
    store_url: str, waits_on: str
) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def gatekeeper(ctx: WorkflowContext, _: None) -> object:
        return await ctx.wait_for_signal("open")

    @app.workflow()
    async def picky(ctx: WorkflowContext, kind: str) -> list[object]:
        if kind == "signal":
            first = await ctx.wait_for_signal("a")
        else:
            first = await ctx.child("gatekeeper")
        return [first, await ctx.wait_for_signal("b")]

    async with app.running():
        handle = await app.start_workflow("picky", waits_on, id="picky")
        await app.workflows.signal("picky", "b", "B")  # pending, but not what it waits for
        waiter = "picky" if waits_on == "signal" else "picky/0"
        await eventually(lambda: _waits(app, waiter), "the wait to begin")
        before = app.store.commits
        await asyncio.sleep(1.0)
        commits = app.store.commits - before
        assert commits < 20, f"a parked run made {commits} commits while waiting"
        if waits_on == "signal":
            await app.workflows.signal("picky", "a", "A")
        else:
            await app.workflows.signal("picky/0", "open", "A")
        assert await handle.result(timeout=10) == ["A", "B"]


async def _waits(app: App, run_id: str) -> bool:
    try:
        detail = await app.workflows.show(run_id)
    except NotFound:
        return False
    return any(step.status == "waiting" for step in detail.steps)


async def test_waits_beyond_what_the_store_holds_are_refused_at_the_call(store_url: str) -> None:
    """A wake time past the store's largest integer could never be checkpointed: the call
    itself says so, instead of the run retrying its park forever."""
    app = make_app(store_url)

    @app.workflow()
    async def forever(ctx: WorkflowContext, _: None) -> list[str]:
        refused = []
        for wait in (
            lambda: ctx.sleep(10**13),
            lambda: ctx.sleep(float("inf")),
            lambda: ctx.sleep(timedelta.max),
            lambda: ctx.wait_for_signal("go", timeout=10**13),
        ):
            try:
                await wait()
            except ConfigError as exc:
                refused.append(f"{exc.message} ({exc.fix})")
        return refused

    async with app.running():
        handle = await app.start_workflow("forever", id="forever")
        refused = await handle.result(timeout=15)
    assert len(refused) == 4
    assert all("too long" in message for message in refused), refused
