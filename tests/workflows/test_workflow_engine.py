"""The engine's background loops survive any store error and say so while it lasts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from workflow_helpers import FullDisk, make_app, status_is

from artery import WorkflowContext, WorkflowError
from artery.store import LARGEST_INTEGER
from artery.workflows import Status, history
from support import eventually


async def test_claim_and_renew_loops_survive_a_store_error_that_is_not_an_outage(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def nap(ctx: WorkflowContext, _: None) -> str:
        await ctx.sleep("1.5s")
        return "woke"

    async with app.running():
        handle = await app.start_workflow("nap", id="nap")
        await eventually(lambda: status_is(app, "nap", Status.SLEEPING), "the run to park")
        disk = FullDisk(app, monkeypatch)
        await eventually(lambda: not app.health.healthy, "the process to report unhealthy")
        assert {f.loop for f in app.health.failures()} & {"workflow claims", "workflow leases"}
        disk.free()
        assert await handle.result(timeout=15) == "woke"
        await eventually(lambda: app.health.healthy, "the process to recover", timeout=15)


async def test_a_checkpoint_that_cannot_be_written_pauses_the_run_instead_of_undoing_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(store_url)
    undone: list[str] = []
    proceed = asyncio.Event()

    async def reserve() -> str:
        return "r-1"

    async def release(reservation: str) -> None:
        undone.append(reservation)

    async def charge() -> str:
        await proceed.wait()
        return "charged"

    @app.workflow()
    async def order(ctx: WorkflowContext, _: None) -> str:
        await ctx.step(reserve, compensate=release)
        try:
            return str(await ctx.step(charge))
        except Exception:
            return "gave up"

    async with app.running():
        handle = await app.start_workflow("order", id="order")
        await eventually(lambda: _has_steps(app, "order", 1), "the first checkpoint")
        disk = FullDisk(app, monkeypatch)
        proceed.set()  # the charge succeeds, its checkpoint cannot be written
        await eventually(
            lambda: "workflow checkpoints" in {f.loop for f in app.health.failures()},
            "the failed checkpoint to be reported",
        )
        disk.free()
        assert await handle.result(timeout=15) == "charged"
        await eventually(lambda: app.health.healthy, "the process to recover", timeout=15)
    assert undone == [], "a store error is not the workflow's failure: nothing is undone"


async def _has_steps(app: Any, run_id: str, count: int) -> bool:
    return len((await app.workflows.show(run_id)).steps) >= count


async def test_a_checkpoint_the_store_can_never_hold_fails_and_flags_the_run(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data error (a wake time beyond the store's integers) fails the same way at every
    replay: the run must end flagged for a person, not retry forever behind a health flag."""
    app = make_app(store_url)
    suspend = history.suspend

    def beyond_the_store(tx: Any, **park: Any) -> None:
        suspend(tx, **{**park, "wake_at": LARGEST_INTEGER + 1})

    monkeypatch.setattr(history, "suspend", beyond_the_store)

    @app.workflow()
    async def nap(ctx: WorkflowContext, _: None) -> str:
        await ctx.sleep("1h")
        return "woke"

    async with app.running():
        handle = await app.start_workflow("nap", id="nap")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=15)
        run = await app.workflows.get("nap")
        assert run.status is Status.FAILED and run.flagged
        assert "workflow checkpoints" not in {f.loop for f in app.health.failures()}


async def test_checkpoint_health_stays_failing_while_any_run_still_fails_its_checkpoints(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run's good checkpoint says nothing of the run whose disk is full."""
    app = make_app(store_url)
    disk = {"full": True}

    async def full_disk_for_one_run(op: Callable[[Any], Any]) -> Any:
        task = asyncio.current_task()
        if disk["full"] and task is not None and task.get_name() == "workflow-stuck":
            raise OSError(28, "No space left on device")
        return await write(op)

    async def tick(n: int) -> int:
        return n

    @app.workflow()
    async def busy(ctx: WorkflowContext, steps: int) -> int:
        for n in range(steps):
            await ctx.step(tick, n, name=f"tick-{n}")
        return steps

    def checkpoints_failing() -> bool:
        return "workflow checkpoints" in {f.loop for f in app.health.failures()}

    async with app.running():
        write = app.store.write
        monkeypatch.setattr(app.store, "write", full_disk_for_one_run)
        stuck = await app.start_workflow("busy", 3, id="stuck")
        await eventually(checkpoints_failing, "the stuck run's checkpoint to be reported")
        busy_run = await app.start_workflow("busy", 20, id="busy")
        flag_seen: list[bool] = []
        async with asyncio.timeout(15):
            while (await app.workflows.get("busy")).status is not Status.COMPLETED:
                flag_seen.append(checkpoints_failing())
                await asyncio.sleep(0.01)
        assert await busy_run.result(timeout=5) == 20
        assert all(flag_seen), "another run's checkpoints cleared the stuck run's failure"
        disk["full"] = False
        assert await stuck.result(timeout=15) == 3
        await eventually(lambda: not checkpoints_failing(), "the flag to clear", timeout=15)


async def test_a_real_full_disk_pauses_the_checkpoint_instead_of_failing_the_run(
    sqlite_url: str,
) -> None:
    """The other side of the line drawn above: SQLite's own 'database or disk is full' is
    an I/O error, so the run waits and resumes; it is neither failed nor flagged."""
    app = make_app(sqlite_url)
    proceed = asyncio.Event()

    async def fetch() -> str:
        await proceed.wait()
        return "x" * 200_000  # needs new pages: refused while the file may not grow

    @app.workflow()
    async def big(ctx: WorkflowContext, _: None) -> int:
        return len(await ctx.step(fetch))

    async with app.running():
        handle = await app.start_workflow("big", id="big")
        await eventually(lambda: status_is(app, "big", Status.RUNNING), "the run to start")
        pages = await app.store.write(lambda tx: tx.execute("PRAGMA page_count"))
        await app.store.write(lambda tx: tx.execute(f"PRAGMA max_page_count = {pages[0][0]}"))
        proceed.set()
        await eventually(
            lambda: "workflow checkpoints" in {f.loop for f in app.health.failures()},
            "the full disk to be reported",
        )
        assert await handle.result(timeout=15) == 200_000
        run = await app.workflows.get("big")
        assert run.status is Status.COMPLETED and not run.flagged
