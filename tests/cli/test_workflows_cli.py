"""``artery workflows``: list, show, signal, cancel and retry against the store while an
app with workers runs in the test's event loop, and ``start`` loading an app module.

The CLI runs ``asyncio.run`` itself, so each invocation runs in a thread of its own
(``asyncio.to_thread``) while the app keeps executing runs in the test loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from artery import App, Integration, WorkflowContext, WorkflowOptions
from artery.cli import app as cli
from artery.workflows import Status
from previous_release import OLD_RUN, previous_store

runner = CliRunner()
SECRET = "dave@example.com"


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


@dataclass
class Partner:
    broken: bool = False
    released: list[str] = field(default_factory=list)


def declare(url: str, partner: Partner) -> App:
    app = App("workflow-cli-test", store=url)
    app.workflow_options = WorkflowOptions(lease_ttl=2.0, poll_interval=0.05)

    async def hold(amount: int) -> str:
        return f"hold-{amount}"

    async def release(hold_id: str, amount: int) -> None:
        partner.released.append(hold_id)

    async def charge(amount: int) -> int:
        if partner.broken:
            raise ConnectionError("payments API down")
        return amount

    @app.workflow()
    async def refund(ctx: WorkflowContext, request: dict[str, Any]) -> str:
        await ctx.step(hold, request["amount"], compensate=release)
        decision = await ctx.wait_for_signal("decision", timeout="1h")
        if decision != "approve":
            ctx.compensate()
        await ctx.step(charge, request["amount"])
        return f"refunded {request['amount']}"

    @app.workflow()
    async def settle(ctx: WorkflowContext, request: dict[str, Any]) -> int:
        result: int = await ctx.step(charge, request["amount"])
        return result

    return app


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own, with no ambient store settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTERY_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_app puts the directory first
    return tmp_path


@dataclass
class Live:
    app: App
    partner: Partner
    url: str

    async def status(self, run_id: str) -> Status:
        return await self.app.workflows.handle(run_id).status()

    async def reaches(self, run_id: str, status: Status) -> None:
        async def there() -> bool:
            return await self.status(run_id) is status

        await until(there, f"run {run_id} {status.value}")


@pytest.fixture
async def live(work: Path, sqlite_url: str) -> AsyncIterator[Live]:
    partner = Partner()
    app = declare(sqlite_url, partner)
    async with app.running():
        yield Live(app, partner, sqlite_url)


# -- store-only commands --------------------------------------------------------------------


async def test_list_shows_runs_without_inputs_and_filters_them(live: Live) -> None:
    done = await live.app.start_workflow("settle", {"amount": 3, "email": SECRET}, id="s-1")
    await done.result(timeout=10)
    await live.app.start_workflow("refund", {"amount": 9, "email": SECRET}, id="r-1")
    await live.reaches("r-1", Status.WAITING)
    output = await ok(live.url, "workflows", "list")
    assert SECRET not in output
    rows = {row[0]: row for row in cells(output) if row[0] in ("s-1", "r-1")}
    assert rows["s-1"][1:3] == ["settle", "completed"] and rows["r-1"][2] == "waiting"
    lines = (await ok(live.url, "workflows", "list", "--status", "waiting", "--json")).split()
    assert [json.loads(line)["run_id"] for line in lines] == ["r-1"]
    only = await ok(live.url, "workflows", "list", "--workflow", "nothing")
    assert "no workflow runs match" in only


INTEGRATION = 3  # the column of `workflows list` naming the integration


async def test_list_and_show_name_the_integration_and_filter_by_it(
    work: Path, sqlite_url: str
) -> None:
    app = declare(sqlite_url, Partner())
    erp = Integration("erp-sync", owner="team-finance")

    @erp.workflow()
    async def post(ctx: WorkflowContext, n: int) -> int:
        return n

    app.include(erp)
    async with app.running():
        await (await app.start_workflow("post", 1, id="p-1")).result(timeout=10)
        await (await app.start_workflow("settle", {"amount": 2}, id="s-2")).result(timeout=10)
        table = await ok(sqlite_url, "workflows", "list", "--integration", "erp-sync")
        mine = await ok(sqlite_url, "workflows", "list", "--integration", "workflow-cli-test")
        lines = await ok(sqlite_url, "workflows", "list", "--integration", "erp-sync", "--json")
        nobody = await ok(sqlite_url, "workflows", "list", "--integration", "crm-sync")
        shown = await ok(sqlite_url, "workflows", "show", "p-1")
    assert "integration" in table.splitlines()[1]
    assert [(row[0], row[INTEGRATION]) for row in cells(table)] == [("p-1", "erp-sync")]
    assert [(row[0], row[INTEGRATION]) for row in cells(mine)] == [("s-2", "workflow-cli-test")]
    (line,) = lines.split()
    assert json.loads(line)["run_id"] == "p-1" and json.loads(line)["integration"] == "erp-sync"
    assert "no workflow runs match" in nobody
    assert "integration: erp-sync" in shown


async def test_runs_started_before_integrations_show_none(work: Path, sqlite_url: str) -> None:
    await previous_store(sqlite_url)
    (row,) = cells(await ok(sqlite_url, "workflows", "list"))
    assert row[0] == OLD_RUN and row[INTEGRATION] == "-"
    (line,) = (await ok(sqlite_url, "workflows", "list", "--json")).split()
    assert json.loads(line)["integration"] is None
    assert "integration: -" in await ok(sqlite_url, "workflows", "show", OLD_RUN)
    none = await ok(sqlite_url, "workflows", "list", "--integration", "workflow-cli-test")
    assert "no workflow runs match" in none


async def test_list_with_an_unknown_status_exits_2(live: Live) -> None:
    result = await artery(live.url, "workflows", "list", "--status", "done")
    assert result.exit_code == 2 and "unknown status 'done'" in result.output


async def test_show_prints_timed_steps_outcomes_and_compensations(live: Live) -> None:
    await live.app.start_workflow("refund", {"amount": 70}, id="r-70")
    await live.reaches("r-70", Status.WAITING)
    await live.app.workflows.signal("r-70", "decision", "reject")
    await live.reaches("r-70", Status.COMPENSATED)
    output = await ok(live.url, "workflows", "show", "r-70")
    assert "status:     compensated" in output and "workflow:   refund" in output
    assert "CompensationRequested: workflow asked to compensate" in output
    rows = cells(output)
    hold = next(row for row in rows if row[0] == "0")
    assert hold[1:5] == ["step", "declare.<locals>.hold", "completed", "1"]
    assert hold[6].endswith("ms") and hold[7] == '"[redacted]"'  # no contract known here
    signal = next(row for row in rows if row[0] == "1")
    assert signal[1:4] == ["signal", "decision", "completed"] and "redacted" in signal[7]
    assert "compensations" in output
    undo = next(row for row in rows if row[0] == "1000000")
    assert undo[1:4] == ["compensation", "declare.<locals>.release", "completed"]


async def test_show_json_without_the_app_hides_input_and_results_it_cannot_classify(
    live: Live,
) -> None:
    handle = await live.app.start_workflow("settle", {"amount": 5, "email": SECRET}, id="s-5")
    await handle.result(timeout=10)
    detail = json.loads(await ok(live.url, "workflows", "show", "s-5", "--json"))
    assert detail["run"]["input"] == "[redacted]" and detail["run"]["result"] == "[redacted]"
    assert [step["result"] for step in detail["steps"]] == ["[redacted]"]
    assert SECRET not in json.dumps(detail)


async def test_signal_from_the_cli_completes_a_waiting_run(live: Live, work: Path) -> None:
    handle = await live.app.start_workflow("refund", {"amount": 5000}, id="r-5000")
    await live.reaches("r-5000", Status.WAITING)
    (work / "decision.json").write_text('"approve"')
    output = await ok(
        live.url, "workflows", "signal", "r-5000", "decision", "--data", "@decision.json"
    )
    assert "sent signal 'decision'" in output
    assert await handle.result(timeout=10) == "refunded 5000"


async def test_signal_with_bad_json_exits_2_and_sends_nothing(live: Live) -> None:
    await live.app.start_workflow("refund", {"amount": 1}, id="r-bad")
    await live.reaches("r-bad", Status.WAITING)
    result = await artery(live.url, "workflows", "signal", "r-bad", "decision", "--data", "{")
    assert result.exit_code == 2 and "not valid JSON" in result.output
    await asyncio.sleep(0.2)
    assert await live.status("r-bad") is Status.WAITING


async def test_cancel_from_the_cli_compensates_and_ends_cancelled(live: Live) -> None:
    await live.app.start_workflow("refund", {"amount": 80}, id="r-80")
    await live.reaches("r-80", Status.WAITING)
    assert "cancel requested" in await ok(live.url, "workflows", "cancel", "r-80")
    await live.reaches("r-80", Status.CANCELLED)
    assert live.partner.released == ["hold-80"]


async def test_retry_from_the_cli_reruns_a_failed_run(live: Live) -> None:
    live.partner.broken = True
    await live.app.start_workflow("settle", {"amount": 11}, id="s-11")
    await live.reaches("s-11", Status.FAILED)
    flagged = await ok(live.url, "workflows", "list", "--flagged", "--json")
    assert [json.loads(line)["run_id"] for line in flagged.split()] == ["s-11"]
    shown = await ok(live.url, "workflows", "show", "s-11")
    assert "flagged" in shown and "ConnectionError: payments API down" in shown
    live.partner.broken = False
    assert "will be retried" in await ok(live.url, "workflows", "retry", "s-11")
    assert await live.app.workflows.handle("s-11").result(timeout=10) == 11


@pytest.mark.parametrize(
    "args",
    [("show", "nope"), ("signal", "nope", "go"), ("cancel", "nope"), ("retry", "nope")],
)
async def test_commands_on_an_unknown_run_exit_2(live: Live, args: tuple[str, ...]) -> None:
    result = await artery(live.url, "workflows", *args)
    assert result.exit_code == 2, result.output
    assert "workflow run 'nope' does not exist" in result.output


async def test_refused_actions_on_a_finished_run_exit_1(live: Live) -> None:
    handle = await live.app.start_workflow("settle", {"amount": 1}, id="s-done")
    await handle.result(timeout=10)
    for args, message in (
        (("signal", "s-done", "go"), "takes no more signals"),
        (("cancel", "s-done"), "already ended completed"),
        (("retry", "s-done"), "not failed"),
    ):
        result = await artery(live.url, "workflows", *args)
        assert result.exit_code == 1 and message in result.output, result.output


PII_MODULE = """
from artery import App

app = App("crm")
app.contract(
    "greet.request",
    schema={
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string", "x-artery-classification": "pii"},
        },
    },
)


async def greet(name, email):
    return {"to": email, "text": f"hello {name} <{email}>"}


@app.workflow(input="greet.request")
async def welcome(ctx, request):
    return await ctx.step(greet, request["name"], request["email"])
"""


async def test_show_with_the_app_redacts_by_the_input_contract_everywhere(
    work: Path, sqlite_url: str
) -> None:
    (work / "crm_flows.py").write_text(textwrap.dedent(PII_MODULE))
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(PII_MODULE), namespace)
    worker: App = namespace["app"]
    worker.settings = dataclasses.replace(worker.settings, store=sqlite_url)
    async with worker.running():
        handle = await worker.start_workflow("welcome", {"name": "Dave", "email": SECRET})
        await handle.result(timeout=10)
        printed = await ok(sqlite_url, "workflows", "show", handle.run_id, "--app", "crm_flows:app")
        as_json = await ok(
            sqlite_url, "workflows", "show", handle.run_id, "--app", "crm_flows:app", "--json"
        )
    detail = json.loads(as_json)
    assert detail["run"]["input"] == {"name": "Dave", "email": "[redacted]"}
    expected = {"to": "[redacted]", "text": "hello Dave <[redacted]>"}
    assert detail["run"]["result"] == expected
    assert [step["result"] for step in detail["steps"]] == [expected]
    assert "hello Dave" in printed
    assert SECRET not in printed and SECRET not in as_json


# -- start ----------------------------------------------------------------------------------

MODULE = """
from artery import App

app = App("shop")
app.contract(
    "double.request",
    schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
)


async def times_two(n):
    return n * 2


@app.workflow(input="double.request")
async def double(ctx, request):
    return await ctx.step(times_two, request["n"])


@app.workflow()
async def noop(ctx, _):
    return None
"""


def write_module(directory: Path, name: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(MODULE))


def worker_of_module(url: str) -> App:
    """The same workflows as the module, as a worker process would run them."""
    app = App("shop", store=url)
    app.workflow_options = WorkflowOptions(lease_ttl=2.0, poll_interval=0.05)
    app.contract(
        "double.request",
        schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    )

    async def times_two(n: int) -> int:
        return n * 2

    @app.workflow(input="double.request")
    async def double(ctx: WorkflowContext, request: dict[str, int]) -> int:
        result: int = await ctx.step(times_two, request["n"])
        return result

    return app


async def test_start_records_a_run_that_a_running_worker_executes(
    work: Path, sqlite_url: str
) -> None:
    write_module(work, "shop_flows")
    (work / "input.json").write_text('{"n": 21}')
    worker = worker_of_module(sqlite_url)
    async with worker.running():
        output = await ok(
            sqlite_url,
            "workflows",
            "start",
            "shop_flows:app",
            "double",
            "--input",
            "@input.json",
            "--id",
            "d-21",
        )
        assert output.strip() == "d-21"
        assert await worker.workflows.handle("d-21").result(timeout=10) == 42
        run = await worker.workflows.get("d-21")
    assert run.started_by == "cli" and run.input == {"n": 21}


async def test_start_without_an_id_prints_a_generated_one(work: Path, sqlite_url: str) -> None:
    write_module(work, "shop_flows2")
    output = await ok(sqlite_url, "workflows", "start", "shop_flows2:app", "noop")
    run_id = output.strip()
    assert run_id.startswith("noop-")
    probe = App("probe", store=sqlite_url)
    async with probe.running(None):
        run = await probe.workflows.get(run_id)
    assert run.status is Status.PENDING, "no worker ran: the run waits for one"


async def test_start_of_an_unknown_workflow_exits_2_naming_the_known_ones(
    work: Path, sqlite_url: str
) -> None:
    write_module(work, "shop_flows3")
    result = await artery(sqlite_url, "workflows", "start", "shop_flows3:app", "tripple")
    assert result.exit_code == 2, result.output
    assert "no workflow named 'tripple'" in result.output
    assert "known workflows: double, noop" in result.output


async def test_start_with_input_breaking_the_contract_exits_1_listing_violations(
    work: Path, sqlite_url: str
) -> None:
    write_module(work, "shop_flows4")
    result = await artery(
        sqlite_url, "workflows", "start", "shop_flows4:app", "double", "--input", '{"n": "x"}'
    )
    assert result.exit_code == 1, result.output
    assert "violates contract 'double.request'" in result.output and "/n" in result.output
    probe = App("probe", store=sqlite_url)
    async with probe.running(None):
        assert await probe.workflows.list() == []
