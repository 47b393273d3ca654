"""The engine's background loops survive any store error and say so while it lasts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from workflow_helpers import make_app

from artery import WorkflowContext
from artery.workflows import Status
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
        await eventually(lambda: _status_is(app, "nap", Status.SLEEPING), "the run to park")
        write = app.store.write
        disk = {"full": True}

        async def full_disk_write(op: Callable[[Any], Any]) -> Any:
            if disk["full"]:
                raise OSError(28, "No space left on device")
            return await write(op)

        monkeypatch.setattr(app.store, "write", full_disk_write)
        await eventually(lambda: not app.health.healthy, "the process to report unhealthy")
        assert {f.loop for f in app.health.failures()} & {"workflow claims", "workflow leases"}
        disk["full"] = False
        assert await handle.result(timeout=15) == "woke"
        await eventually(lambda: app.health.healthy, "the process to recover", timeout=15)


async def _status_is(app: Any, run_id: str, status: Status) -> bool:
    return (await app.workflows.get(run_id)).status is status
