"""Shared pieces for workflow tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from artery import App, NotFound, WorkerOptions, WorkflowOptions
from artery.workflows import Status

FAST = {"lease_ttl": 2.0, "poll_interval": 0.05}


def make_app(store_url: str) -> App:
    app = App("workflow-test", store=store_url)
    app.workflow_options = WorkflowOptions(**FAST)
    app.worker_options = WorkerOptions(
        lease_ttl=2.0,
        poll_interval=0.02,
        commit_interval=0.02,
        retry_poll=0.03,
    )
    return app


async def status_is(app: App, run_id: str, status: Status) -> bool:
    """For ``eventually``: the run exists and has ``status``."""
    try:
        return (await app.workflows.get(run_id)).status is status
    except NotFound:
        return False


class FullDisk:
    """Makes every write of the app's real store fail as a full disk does, until freed."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = True
        write = app.store.write

        async def full_disk_write(op: Callable[[Any], Any]) -> Any:
            if self.full:
                raise OSError(28, "No space left on device")
            return await write(op)

        monkeypatch.setattr(app.store, "write", full_disk_write)

    def free(self) -> None:
        self.full = False
