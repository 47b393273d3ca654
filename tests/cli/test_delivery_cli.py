"""``artery worker``/``run``, ``artery dlq``, ``artery replay`` and ``artery breakers``:
output a person reads, exit statuses a script relies on (0 done, 2 unusable input)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from artery import App, DeliveryContext, Event, Integration, Permanent, Retry, WorkerOptions
from artery.cli import app as cli
from artery.cli.loader import load_app
from artery.delivery.breaker import BreakerPolicy, Breakers
from previous_release import OLD_EVENT, previous_store

runner = CliRunner()

ORDER = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "email": {"type": "string", "x-artery-classification": "pii"},
    },
    "required": ["n"],
}
FAST = {"lease_ttl": 2.0, "poll_interval": 0.02, "commit_interval": 0.02, "retry_poll": 0.03}
EMAIL = "bob@example.com"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of its own, with no ambient store settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTERY_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_app puts the directory first
    return tmp_path


def artery(url: str, *args: str) -> Result:
    return runner.invoke(cli, ["--store", url, *args], env={"COLUMNS": "240"})


def ok(url: str, *args: str) -> str:
    result = artery(url, *args)
    assert result.exit_code == 0, result.output
    return result.output


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 10
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def bury(
    url: str, groups: tuple[str, ...] = ("erp",), count: int = 3, integration: str | None = None
) -> None:
    """Run an app whose consumers reject every order, until each group buried ``count``;
    the consumers are declared on ``integration`` (the app includes it) if one is named."""

    async def main() -> None:
        app = App("cli-test", store=url)
        app.worker_options = WorkerOptions(**FAST)
        declaring = app if integration is None else Integration(integration, owner="team-x")
        orders = declaring.contract("orders", schema=ORDER, partitions=2)
        for group in groups:

            @declaring.consumer(orders, group=group, retry=Retry(attempts=1))
            async def reject(event: Event, ctx: DeliveryContext) -> None:
                raise Permanent("unknown customer")

        if declaring is not app:
            app.include(declaring)

        async with app.running():
            for n in range(count):
                await app.publish(orders, {"n": n, "email": EMAIL})

            async def buried() -> bool:
                return len(await app.dead_letters.list()) == count * len(groups)

            await until(buried, "dead letters")

            async def committed() -> bool:
                return all(p.lag == 0 for p in await app.log.positions())

            await until(committed, "offsets committed")

    asyncio.run(main())


@pytest.fixture
def buried(work: Path, sqlite_url: str) -> str:
    bury(sqlite_url)
    return sqlite_url


def cells(table: str) -> list[list[str]]:
    """The rows of a printed table, as lists of cell texts."""
    rows = [line.strip("│| \n").split("│") for line in table.splitlines() if "│" in line]
    return [[cell.strip() for cell in row] for row in rows]


INTEGRATION = 3  # the column of `dlq list` naming the integration


def listed(url: str, *args: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in ok(url, "dlq", "list", "--json", *args).splitlines()]


# -- dlq ----------------------------------------------------------------------------------


def test_dlq_list_shows_dead_letters_without_payloads(buried: str) -> None:
    output = ok(buried, "dlq", "list")
    assert output.count("unknown customer") == 0 and EMAIL not in output
    assert output.count("artery.retry.Permanent") == 3
    assert [row["group"] for row in listed(buried)] == ["erp"] * 3
    assert listed(buried, "--group", "crm") == []
    assert len(listed(buried, "--limit", "2")) == 2


def test_dlq_show_prints_errors_and_redacts_classified_fields(buried: str) -> None:
    first = listed(buried)[0]
    detail = json.loads(ok(buried, "dlq", "show", str(first["id"])))
    assert detail["errors"][0]["message"] == "unknown customer"
    assert detail["event"]["data"]["email"] == "[redacted]"
    assert isinstance(detail["event"]["data"]["n"], int)
    assert EMAIL not in json.dumps(detail)


def test_dlq_show_of_an_unknown_id_exits_2(buried: str) -> None:
    result = artery(buried, "dlq", "show", "999")
    assert result.exit_code == 2 and "dead letter 999 does not exist" in result.output


def test_dlq_redrive_schedules_only_the_selected_dead_letters(buried: str) -> None:
    first, second, _ = listed(buried)
    assert "redriven 2 dead letter(s)" in ok(
        buried, "dlq", "redrive", str(first["id"]), str(second["id"])
    )
    assert len(listed(buried)) == 1
    redriven = [row for row in listed(buried, "--all") if row["redriven_at"] is not None]
    assert {row["id"] for row in redriven} == {first["id"], second["id"]}


def test_dlq_redrive_by_error_type(buried: str) -> None:
    assert "redriven 0" in ok(buried, "dlq", "redrive", "--error-type", "builtins.KeyError")
    assert "redriven 3" in ok(buried, "dlq", "redrive", "--error-type", "Permanent")


def test_dlq_error_type_is_matched_exactly_and_wildcards_are_refused(buried: str) -> None:
    assert listed(buried, "--error-type", "customer") == []  # a word of the message
    assert len(listed(buried, "--error-type", "artery.retry.Permanent")) == 3
    refused = artery(buried, "dlq", "purge", "--error-type", "%", "--yes")
    assert refused.exit_code == 2 and "error type '%'" in refused.output
    assert "Traceback" not in refused.output
    assert len(listed(buried)) == 3


def test_dlq_redrive_without_a_selection_exits_2_with_the_fix(buried: str) -> None:
    result = artery(buried, "dlq", "redrive")
    assert result.exit_code == 2
    assert "redrive needs a selection" in result.output and "give dead letter ids" in result.output


def test_dlq_purge_without_yes_exits_2_and_keeps_everything(buried: str) -> None:
    result = artery(buried, "dlq", "purge", "--group", "erp")
    assert result.exit_code == 2 and "--yes" in result.output
    assert len(listed(buried)) == 3


def test_dlq_purge_with_yes_deletes_the_selection(buried: str) -> None:
    first = listed(buried)[0]
    assert "purged 1 dead letter(s)" in ok(buried, "dlq", "purge", str(first["id"]), "--yes")
    assert "purged 2" in ok(buried, "dlq", "purge", "--type", "orders", "--yes")
    assert listed(buried, "--all") == []


def test_dlq_depth_counts_open_dead_letters_per_group(work: Path, sqlite_url: str) -> None:
    assert "no open dead letters" in ok(sqlite_url, "dlq", "depth")
    bury(sqlite_url, groups=("erp", "crm"), count=2)
    ok(sqlite_url, "dlq", "redrive", "--group", "crm")
    rows = cells(ok(sqlite_url, "dlq", "depth"))
    assert [(row[0], row[-1]) for row in rows if row[0] in ("erp", "crm")] == [("erp", "2")]


def test_dlq_names_the_integration_and_every_command_filters_by_it(
    work: Path, sqlite_url: str
) -> None:
    bury(sqlite_url, integration="erp-sync")
    assert [row["integration"] for row in listed(sqlite_url)] == ["erp-sync"] * 3
    table = ok(sqlite_url, "dlq", "list", "--integration", "erp-sync")
    assert "integration" in table.splitlines()[1]
    assert [row[INTEGRATION] for row in cells(table)] == ["erp-sync"] * 3
    assert "no dead letters match" in ok(sqlite_url, "dlq", "list", "--integration", "crm-sync")
    assert listed(sqlite_url, "--integration", "crm-sync") == []
    assert "redriven 0" in ok(sqlite_url, "dlq", "redrive", "--integration", "crm-sync")
    assert "purged 0" in ok(sqlite_url, "dlq", "purge", "--integration", "crm-sync", "--yes")
    assert "no open dead letters" in ok(sqlite_url, "dlq", "depth", "--integration", "crm-sync")
    depth = cells(ok(sqlite_url, "dlq", "depth", "--integration", "erp-sync"))
    assert [(row[0], row[-1]) for row in depth if row[0] == "erp"] == [("erp", "3")]
    assert "purged 3" in ok(sqlite_url, "dlq", "purge", "--integration", "erp-sync", "--yes")
    assert listed(sqlite_url, "--all") == []


def test_dlq_list_shows_dead_letters_buried_before_integrations(
    work: Path, sqlite_url: str
) -> None:
    asyncio.run(previous_store(sqlite_url))
    (row,) = listed(sqlite_url)
    assert row["event_id"] == OLD_EVENT.id and row["integration"] is None
    (old,) = cells(ok(sqlite_url, "dlq", "list"))
    assert old[1 : INTEGRATION + 1] == ["erp", "post_invoice", "-"]
    assert listed(sqlite_url, "--integration", "cli-test") == []


# -- replay and breakers ------------------------------------------------------------------


async def _lags(url: str) -> dict[str, int]:
    app = App("probe", store=url)
    async with app.running(None):
        lags: dict[str, int] = {}
        for p in await app.log.positions():
            lags[p.group] = lags.get(p.group, 0) + p.lag
        return lags


def test_replay_from_beginning_rewinds_only_that_group(work: Path, sqlite_url: str) -> None:
    bury(sqlite_url, groups=("erp", "crm"), count=3)
    assert asyncio.run(_lags(sqlite_url)) == {"erp": 0, "crm": 0}
    output = ok(sqlite_url, "replay", "erp", "orders", "--from-beginning")
    assert "erp on orders" in output
    assert asyncio.run(_lags(sqlite_url)) == {"erp": 3, "crm": 0}


def test_replay_from_an_offset_and_from_a_time(work: Path, sqlite_url: str) -> None:
    bury(sqlite_url, count=4)
    ok(sqlite_url, "replay", "erp", "orders", "--from-offset", "1")
    lag = asyncio.run(_lags(sqlite_url))["erp"]
    assert 0 < lag < 4  # each partition moved to offset 1 (or its end)
    ok(sqlite_url, "replay", "erp", "orders", "--from-time", "2000-01-01T00:00:00Z")
    assert asyncio.run(_lags(sqlite_url)) == {"erp": 4}
    ok(sqlite_url, "replay", "erp", "orders", "--from-time", "2999-01-01T00:00:00+00:00")
    assert asyncio.run(_lags(sqlite_url)) == {"erp": 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one starting point"),
        (("--from-offset", "0", "--from-beginning"), "exactly one starting point"),
        (("--from-time", "yesterday"), "not an ISO 8601 time"),
        (("--from-time", "2026-01-01T00:00:00"), "has no timezone"),
    ],
)
def test_replay_needs_exactly_one_valid_start(
    work: Path, sqlite_url: str, args: tuple[str, ...], message: str
) -> None:
    result = artery(sqlite_url, "replay", "erp", "orders", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_replay_of_a_group_without_a_position_exits_2(work: Path, sqlite_url: str) -> None:
    bury(sqlite_url, count=1)
    result = artery(sqlite_url, "replay", "erpp", "orders", "--from-beginning")
    assert result.exit_code == 2 and "group 'erpp' has no position" in result.output
    assert asyncio.run(_lags(sqlite_url)) == {"erp": 0}


def test_breakers_lists_persisted_states(work: Path, sqlite_url: str) -> None:
    assert "no breaker has reported" in ok(sqlite_url, "breakers")

    async def trip() -> None:
        app = App("breakers", store=sqlite_url)
        async with app.running(None):
            breakers = Breakers(app.store, "worker-9")
            breakers.get("erp", BreakerPolicy(min_calls=1)).record_failure()
            await breakers.flush()

    asyncio.run(trip())
    (row,) = [row for row in cells(ok(sqlite_url, "breakers")) if row[0] == "erp"]
    assert row[1] == "open" and row[-1] == "worker-9"


# -- loading the app ----------------------------------------------------------------------


def write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def test_load_app_finds_the_app_in_the_working_directory(work: Path) -> None:
    write_module(work, "shop_app", "from artery import App\napp = App('shop')\n")
    assert load_app("shop_app:app").name == "shop"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("shop_app", "not an import string"),
        ("no_such_module:app", "module 'no_such_module' not found"),
        ("shop_app2:application", "has no attribute 'application'"),
        ("shop_app2:NAME", "is a str, not an artery App"),
    ],
)
def test_worker_with_a_bad_target_exits_2_naming_it(
    work: Path, sqlite_url: str, target: str, message: str
) -> None:
    write_module(work, "shop_app2", "from artery import App\napp = App('shop')\nNAME = 'x'\n")
    result = artery(sqlite_url, "worker", target)
    assert result.exit_code == 2 and message in result.output, result.output


def test_module_that_fails_to_import_a_dependency_keeps_its_error(work: Path) -> None:
    write_module(work, "needs_dep", "import not_installed_dep\n")
    with pytest.raises(ModuleNotFoundError, match="not_installed_dep"):
        load_app("needs_dep:app")


def test_bad_admin_address_exits_2(work: Path, sqlite_url: str) -> None:
    write_module(work, "shop_app3", "from artery import App\napp = App('shop')\n")
    result = artery(sqlite_url, "worker", "shop_app3:app", "--admin", "localhost")
    assert result.exit_code == 2 and "is not HOST:PORT" in result.output


# -- real processes -----------------------------------------------------------------------

APP_MODULE = """
import asyncio
from pathlib import Path

from artery import App, WorkerOptions

HERE = Path(__file__).parent
app = App("files")
app.worker_options = WorkerOptions(lease_ttl=2.0, poll_interval=0.02, commit_interval=0.02)
orders = app.contract("orders", schema={"type": "object"}, partitions=2)


def note(name, text):
    with open(HERE / name, "a") as f:
        f.write(text + "\\n")


@app.consumer(orders, group="files")
async def record(event, ctx):
    note("started.txt", str(event.data["n"]))
    await asyncio.sleep(0.5)  # still running when SIGTERM arrives
    note("handled.txt", str(event.data["n"]))
"""


def spawn(directory: Path, store: dict[str, str], *args: str) -> subprocess.Popen[str]:
    write_module(directory, "tests_module", APP_MODULE)
    env = {k: v for k, v in os.environ.items() if k != "ARTERY_STORE"}
    env.update(store, PYTHONUNBUFFERED="1", COLUMNS="240")
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("artery")), *args],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(check: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_worker_process_handles_events_and_drains_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/artery.db"
    worker = spawn(tmp_path, {"ARTERY_STORE": url}, "worker", "tests_module:app")
    try:
        assert worker.stdout is not None
        assert "worker 'files': 1 consumer(s)" in worker.stdout.readline()
        for n in range(5):
            result = runner.invoke(cli, ["--store", url, "publish", "orders", json.dumps({"n": n})])
            assert result.exit_code == 0, result.output
        started = tmp_path / "started.txt"
        wait_for(lambda: len(lines(started)) == 5, "all five handlers started", worker)
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stdout
    assert sorted(lines(tmp_path / "handled.txt")) == ["0", "1", "2", "3", "4"]
    assert asyncio.run(_lags(url)) == {"files": 0}  # offsets committed before exit


def created_key(store_url: str, *scopes: str) -> dict[str, str]:
    """``artery keys create``, as an operator runs it: the Authorization header for the key."""
    options = [arg for scope in scopes or ("admin:read",) for arg in ("--scope", scope)]
    result = runner.invoke(cli, ["--store", store_url, "keys", "create", "ops", *options, "--json"])
    assert result.exit_code == 0, result.output
    return {"Authorization": "Bearer " + json.loads(result.stdout)["key"]}


def test_run_serves_the_admin_api_until_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/chosen.db"
    key = created_key(url)
    process = spawn(tmp_path, {}, "--store", url, "run", "tests_module:app", "--port", "0")
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        admin = banner.split("admin API at ")[1].split()[0]
        assert httpx.get(f"{admin}/consumers", timeout=10).status_code == 401
        consumers = httpx.get(f"{admin}/consumers", headers=key, timeout=10).json()
        assert [(c["group"], c["topic"]) for c in consumers] == [("files", "orders")]
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{admin}/consumers", timeout=2)
    assert (tmp_path / "chosen.db").exists() and not (tmp_path / "artery.db").exists()
