"""Sagas: a failing run undoes its completed steps in reverse order, durably."""

from __future__ import annotations

import pytest
from workflow_helpers import make_app

from artery import Retry, WorkflowContext, WorkflowError
from artery.workflows import Status


def saga_app(store_url: str, log: list[str], fail_at: str, undo_fails: bool = False):  # type: ignore[no-untyped-def]
    app = make_app(store_url)

    async def authorize(order: str) -> str:
        log.append("authorize")
        return f"auth-{order}"

    async def void(auth: str, order: str) -> None:
        if undo_fails:
            raise ConnectionError("payments API down")
        log.append(f"void {auth}")

    async def reserve(order: str) -> str:
        log.append("reserve")
        if fail_at == "reserve":
            raise RuntimeError("out of stock")
        return f"res-{order}"

    async def release(reservation: str, order: str) -> None:
        log.append(f"release {reservation}")

    async def capture(auth: str) -> None:
        log.append("capture")
        if fail_at == "capture":
            raise RuntimeError("card declined")

    @app.workflow()
    async def fulfil(ctx: WorkflowContext, order: str) -> str:
        auth = await ctx.step(
            authorize, order, compensate=void, compensate_retry=Retry(attempts=2, base="10ms")
        )
        await ctx.step(reserve, order, compensate=release)
        await ctx.step(capture, auth)
        return "done"

    return app


async def test_failed_step_compensates_completed_steps_in_reverse(store_url: str) -> None:
    log: list[str] = []
    app = saga_app(store_url, log, fail_at="capture")
    async with app.running():
        handle = await app.start_workflow("fulfil", "A-1")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
        detail = await app.workflows.show(handle.run_id)
    assert info.value.status == "compensated"
    assert log == ["authorize", "reserve", "capture", "release res-A-1", "void auth-A-1"]
    assert [c.name for c in detail.compensations] == [
        "saga_app.<locals>.release",
        "saga_app.<locals>.void",
    ]
    assert detail.run.status is Status.COMPENSATED and not detail.run.flagged
    assert "card declined" in detail.run.error["message"]


async def test_only_completed_steps_are_compensated(store_url: str) -> None:
    log: list[str] = []
    app = saga_app(store_url, log, fail_at="reserve")
    async with app.running():
        handle = await app.start_workflow("fulfil", "A-2")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
    assert log == ["authorize", "reserve", "void auth-A-2"]


async def test_failing_compensation_flags_the_run_and_retry_finishes_it(store_url: str) -> None:
    log: list[str] = []
    app = saga_app(store_url, log, fail_at="capture", undo_fails=True)
    async with app.running():
        handle = await app.start_workflow("fulfil", "A-3", id="saga-3")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        run = await app.workflows.get("saga-3")
        assert run.status is Status.FAILED and run.flagged
        assert "payments API down" in run.error["message"]
        assert (await app.workflows.list(flagged=True))[0].run_id == "saga-3"
    log.clear()
    fixed = saga_app(store_url, log, fail_at="capture", undo_fails=False)
    async with fixed.running():
        await fixed.workflows.retry("saga-3")
        with pytest.raises(WorkflowError) as info:
            await fixed.workflows.handle("saga-3").result(timeout=10)
    assert info.value.status == "compensated"
    assert log == ["void auth-A-3"], "retry resumes the failed compensation only"


async def test_explicit_compensate_undoes_and_ends_compensated(store_url: str) -> None:
    app = make_app(store_url)
    undone: list[str] = []

    async def book() -> str:
        return "booking-1"

    async def unbook(booking: str) -> None:
        undone.append(booking)

    @app.workflow()
    async def trip(ctx: WorkflowContext, _: None) -> None:
        await ctx.step(book, compensate=unbook)
        ctx.compensate()

    async with app.running():
        handle = await app.start_workflow("trip")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert info.value.status == "compensated"
    assert undone == ["booking-1"]


async def test_failed_step_without_compensations_fails_and_retry_reruns_it(
    store_url: str,
) -> None:
    attempts = {"n": 0}

    def build():  # type: ignore[no-untyped-def]
        app = make_app(store_url)

        async def post() -> str:
            attempts["n"] += 1
            if attempts["n"] == 1:
                raise RuntimeError("ERP rejected")
            return "posted"

        @app.workflow()
        async def flow(ctx: WorkflowContext, _: None) -> str:
            return await ctx.step(post)

        return app

    async with build().running() as app:
        handle = await app.start_workflow("flow", id="f-1")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        assert (await app.workflows.get("f-1")).flagged
        await app.workflows.retry("f-1")
        assert await handle.result(timeout=10) == "posted"


async def test_unstorable_workflow_result_fails_the_run_without_undoing_its_steps(
    store_url: str,
) -> None:
    app = make_app(store_url)
    undone: list[str] = []

    async def reserve() -> str:
        return "r-1"

    async def release(reservation: str) -> None:
        undone.append(reservation)

    @app.workflow()
    async def booking(ctx: WorkflowContext, _: None) -> object:
        await ctx.step(reserve, compensate=release)
        return {"rooms": {101, 102}}  # a set is not JSON

    async with app.running():
        handle = await app.start_workflow("booking")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
        detail = await app.workflows.show(handle.run_id)
    assert info.value.status == "failed"
    assert detail.run.flagged
    assert undone == [] and detail.compensations == []
    message = info.value.error["message"]
    assert "workflow 'booking' returned a value that cannot be stored" in message
    assert "workflow result" not in message


async def test_failed_flagged_run_can_be_cancelled_and_runs_its_remaining_compensations(
    store_url: str,
) -> None:
    log: list[str] = []
    app = saga_app(store_url, log, fail_at="capture", undo_fails=True)
    async with app.running():
        handle = await app.start_workflow("fulfil", "A-4", id="saga-4")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        assert (await app.workflows.get("saga-4")).flagged
    log.clear()
    fixed = saga_app(store_url, log, fail_at="capture", undo_fails=False)
    async with fixed.running():
        await fixed.workflows.cancel("saga-4")
        with pytest.raises(WorkflowError) as info:
            await fixed.workflows.handle("saga-4").result(timeout=10)
    assert info.value.status == "cancelled"
    assert log == ["void auth-A-4"], "only the compensation that had not succeeded runs"


async def test_cancelling_a_run_flagged_for_its_result_undoes_its_steps(store_url: str) -> None:
    app = make_app(store_url)
    undone: list[str] = []

    async def reserve() -> str:
        return "r-1"

    async def release(reservation: str) -> None:
        undone.append(reservation)

    @app.workflow()
    async def booking(ctx: WorkflowContext, _: None) -> object:
        await ctx.step(reserve, compensate=release)
        return {"rooms": {101, 102}}

    async with app.running():
        handle = await app.start_workflow("booking")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        await app.workflows.cancel(handle.run_id)
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert info.value.status == "cancelled"
    assert undone == ["r-1"]
