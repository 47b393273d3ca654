"""``artery report``: the ROI indicators as tables a person reads and JSON a script keeps,
and the CLI's own interventions (a redrive, a signal, a replay) on the record under the
OS user. The app runs in the test's event loop; each CLI call runs in a thread of its own,
since the CLI runs ``asyncio.run`` itself."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from artery import App
from artery.cli import app as cli
from artery.cli.loader import load_app
from artery.observe import roi
from artery.workflows import Status

runner = CliRunner()
USER = f"cli:{getpass.getuser()}"
MODULE = """
    from artery import App, Integration, Permanent, Retry, WorkerOptions

    app = App("cli-roi")
    app.worker_options = WorkerOptions(
        lease_ttl=2.0, poll_interval=0.02, commit_interval=0.02, retry_poll=0.03
    )
    erp = Integration("erp-sync", owner="team-erp", partners=["erp"])
    orders = erp.contract("orders", schema={"type": "object"})

    @erp.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event, ctx):
        raise Permanent("unknown customer")

    @erp.workflow()
    async def approve(ctx, order):
        return await ctx.wait_for_signal("approval", timeout="1h")

    app.include(erp)
"""


async def artery(url: str, *args: str) -> Result:
    return await asyncio.to_thread(
        runner.invoke, cli, ["--store", url, *args], env={"COLUMNS": "240"}
    )


async def ok(url: str, *args: str) -> str:
    result = await artery(url, *args)
    assert result.exit_code == 0, result.output
    return result.output


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 10
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def cells(table: str) -> list[list[str]]:
    rows = [line.strip("│| \n").split("│") for line in table.splitlines() if "│" in line]
    return [[cell.strip() for cell in row] for row in rows]


@pytest.fixture
async def live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> AsyncIterator[App]:
    """``roi_cli_app:app`` (every order refused) running on ``sqlite_url``, two orders
    dead-lettered."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTERY_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_app puts the directory first
    (tmp_path / "roi_cli_app.py").write_text(textwrap.dedent(MODULE))
    app = load_app("roi_cli_app:app")
    app.settings = dataclasses.replace(app.settings, store=sqlite_url)
    async with app.running():
        for n in range(2):
            await app.publish("orders", {"n": n})
        await until(lambda: _dead(app, 2), "two dead letters")
        yield app


async def _dead(app: App, count: int) -> bool:
    return len(await app.dead_letters.list()) == count


async def interventions(app: App) -> list[tuple[Any, ...]]:
    return await app.store.read(
        lambda tx: tx.execute(
            "SELECT kind, integration, actor, detail FROM interventions ORDER BY id"
        )
    )


async def test_redrive_signal_and_replay_from_the_cli_are_recorded_as_the_os_user(
    live: App, sqlite_url: str
) -> None:
    first = (await live.dead_letters.list())[0].id
    await ok(sqlite_url, "dlq", "redrive", str(first))
    handle = await live.start_workflow("approve", {}, id="a-1")
    await until(lambda: _status(handle, Status.WAITING), "the run waiting")
    await ok(sqlite_url, "workflows", "signal", "a-1", "approval", "--data", '"yes"')
    assert await handle.result(timeout=10) == "yes"
    await ok(sqlite_url, "replay", "erp", "orders", "--from-beginning")
    assert await interventions(live) == [
        ("redrive", "erp-sync", USER, f"1 dead letter(s): {first}"),
        ("signal", "erp-sync", USER, "signal 'approval' to run 'a-1'"),
        ("replay", None, USER, "group 'erp' on 'orders' from the beginning"),
    ]


async def _status(handle: Any, status: Status) -> bool:
    return await handle.status() is status


async def test_report_prints_each_indicator_as_a_table(live: App, sqlite_url: str) -> None:
    first, second = [letter.id for letter in await live.dead_letters.list()]
    await ok(sqlite_url, "dlq", "redrive", str(first))  # refused again: a third dead letter

    async def recorded() -> bool:
        found = await roi.report(live.store, since=3600, now=time.time())
        return found.events.dead == 3 and found.interventions.total == 1

    await until(recorded, "three dead letters and a redrive in the records")
    two_days_ago = int((time.time() - 2 * 86400) * 1e6)
    await live.store.write(
        lambda tx: tx.execute(
            "UPDATE dead_letters SET created_at = ? WHERE id = ?", (two_days_ago, second)
        )
    )
    output = await ok(sqlite_url, "report", "roi_cli_app:app", "--since", "7d")
    lines = output.splitlines()
    assert lines[0].startswith("ROI report for the last 7d: ")
    assert "events: 0 delivered, 3 dead-lettered" in lines
    assert "manual interventions: 1 (333.333 per 1,000 events)" in lines
    assert "time to recovery: no partner incident recovered in the window" in lines
    rows = cells(output)
    assert ["redrive", "1", "333.333"] in rows and ["signal", "0", "0"] in rows
    assert ["erp-sync", "1", "3", "333.333"] in rows  # by integration
    (still_open,) = [r for r in rows if r[:2] == ["erp", "erp-sync"]]
    assert still_open[2].endswith("Z")  # failing since (the partner never recovered)
    (waiting,) = [r for r in rows if r[0] == "erp-sync" and r[2] == "not yet"]
    assert waiting[3].startswith("waiting ")
    (stale,) = [r for r in rows if r[0] == "erp-sync" and r[-1] == "2d 0h"]
    assert stale[1] == "1"


async def test_report_json_is_the_admin_apis_shape(live: App, sqlite_url: str) -> None:
    await until(lambda: _dead_counted(live), "the dead letters in the records")
    found = json.loads(await ok(sqlite_url, "report", "roi_cli_app:app", "--json"))
    assert found["window_seconds"] == 7 * 86400  # the default window
    assert found["events"] == {"delivered": 0, "dead": 2, "total": 2}
    assert found["interventions"]["total"] == 0
    assert found["interventions"]["per_1000_events"] == 0.0
    assert set(found) == {
        "since", "until", "window_seconds", "events", "interventions", "recovery",
        "onboarding", "stale_dead_letters",
    }  # fmt: skip


async def _dead_counted(app: App) -> bool:
    return (await roi.report(app.store, since=3600, now=time.time())).events.dead == 2


@pytest.mark.parametrize("since", ["soon", "0", "7 days"])
def test_a_bad_since_exits_2_naming_the_option_and_the_fix(sqlite_url: str, since: str) -> None:
    result = runner.invoke(cli, ["--store", sqlite_url, "report", "app:app", "--since", since])
    assert result.exit_code == 2
    assert result.output == (
        f"error: --since {since!r} is not a window of time"
        " (give --since a duration above zero with a unit: 12h, 7d, 30d)\n"
    )
