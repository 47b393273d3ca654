"""SLOs: error budgets and burn rates computed from the runtime's own records (on SQLite
and PostgreSQL), shown at ``GET /admin/slos`` and by ``artery slo status``, and the
Prometheus rules of ``artery slo rules``, which pass ``promtool check rules`` and the
scenarios of ``slo_rules_test.yml`` under ``promtool test rules``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from artery import App, Integration, Listen, Settings
from artery.cli import app as cli
from artery.cli.loader import load_app
from artery.observe.declare import Slo
from artery.observe.records import Labels, Records
from artery.observe.slo import SloStatus, statuses
from artery.observe.slo_rules import rules_yaml
from artery.runtime import open_runtime
from support import api_key, bearer

MINUTE = 60.0
DAY = 86400.0
NOW = 1_700_000_000.0 - 1_700_000_000.0 % 60 + 30  # half a minute into a minute
ERP = Labels("erp-sync", "erp", "post_invoice", "commerce.order.placed")
CRM = Labels("crm-sync", "crm", "push_contact", "commerce.order.placed")
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# The app of the CLI and promtool tests; slo_rules_test.yml is written for its two SLOs.
MODULE = """
from artery import App, Integration

app = App("commerce")
erp = Integration("erp-sync", owner="team-finance", partners=["erp"],
                  runbook="https://wiki.example/erp-sync")
erp.slo(success=0.999, sync_within="5m", window="30d")
crm = Integration("crm-sync", owner="team-sales", partners=["crm"])
crm.slo(success=0.99, window="7d")
app.include(erp, crm)
"""
NO_SLO = """
from artery import App

app = App("plain")
"""

promtool_required = pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("ARTERY_REQUIRE_SERVICES") != "1",
    reason="promtool (Debian's prometheus package) is not installed",
)


class Clock:
    """The time ``Records`` stamps outcomes with, set by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def recorded(
    store_url: str, slos: list[Slo], outcomes: list[tuple[float, str, Labels]]
) -> None:
    """Count ``outcomes`` ((seconds ago, what, labels); what is ``ok``, ``late`` or
    ``dead``) with ``Records`` at those times, as a worker would, and write them."""
    clock = Clock(NOW)
    async with open_runtime(Settings(store=store_url)) as runtime:
        records = Records(
            [s.integration for s in slos], {s.integration: s for s in slos}, clock=clock
        )
        await records.start(runtime)
        try:
            for ago, what, labels in outcomes:
                clock.now = NOW - ago
                if what == "dead":
                    records.dead(labels)
                else:
                    records.delivered(labels, 400.0 if what == "late" else 2.0)
            clock.now = NOW
            await records.flush()
        finally:
            await records.stop()


async def read(store_url: str, slos: list[Slo], at: float = NOW) -> dict[str, SloStatus]:
    async with open_runtime(Settings(store=store_url)) as runtime:
        return {s.slo.integration: s for s in await statuses(runtime.store, slos, at)}


def times(n: int, ago: float, what: str, labels: Labels = ERP) -> list[tuple[float, str, Labels]]:
    return [(ago, what, labels)] * n


ERP_SLO = Slo("erp-sync", 0.99, 300.0, 30 * DAY)
QUIET_SLO = Slo("quiet", 0.999, None, 7 * DAY)


async def test_budget_and_burn_rates_come_from_the_records_of_each_window(store_url: str) -> None:
    await recorded(
        store_url,
        [ERP_SLO],
        [
            *times(500, 40 * DAY, "dead"),  # before the 30d window
            *times(990, 2 * DAY, "ok"),
            *times(10, 2 * DAY, "dead"),
            *times(98, 3 * 3600, "ok"),
            *times(2, 3 * 3600, "late"),  # delivered, but later than sync_within
            *times(100, 10 * MINUTE, "ok"),
            *times(45, 2 * MINUTE, "ok"),
            *times(5, 2 * MINUTE, "dead"),
            *times(100, 2 * MINUTE, "dead", CRM),  # another integration's
        ],
    )
    found = (await read(store_url, [ERP_SLO, QUIET_SLO]))["erp-sync"]
    assert (found.window.events, found.window.bad) == (1250, 17)
    assert found.sli == pytest.approx(1233 / 1250)
    # 1% of 1250 events may be bad: 12.5; 17 were: the budget is overspent by 36%
    assert found.budget_remaining == pytest.approx(-0.36)
    assert found.burn_rates == pytest.approx(
        {"5m": 10.0, "30m": 10 / 3, "1h": 10 / 3, "2h": 10 / 3, "6h": 2.8, "1d": 2.8, "3d": 1.36}
    )
    assert found.alert == "ticket"  # 3d over 1x and 6h over 1x; nothing pages
    described = found.describe("https://wiki.example/erp")
    assert described["window"] == "30d" and described["sync_within"] == "5m"
    assert (described["events"], described["bad"], described["alert"]) == (1250, 17, "ticket")
    assert described["runbook"] == "https://wiki.example/erp"


async def test_a_window_is_its_last_minutes_including_the_current_one(store_url: str) -> None:
    await recorded(
        store_url, [ERP_SLO], [*times(45, 2 * MINUTE, "ok"), *times(5, 2 * MINUTE, "dead")]
    )
    still = (await read(store_url, [ERP_SLO], NOW + 2 * MINUTE))["erp-sync"]
    assert still.burn_rates["5m"] == pytest.approx(10.0)
    gone = (await read(store_url, [ERP_SLO], NOW + 3 * MINUTE))["erp-sync"]
    assert gone.burn_rates["5m"] == 0.0  # no events in the window: no burn
    assert gone.burn_rates["30m"] == pytest.approx(10.0)


async def test_an_slo_without_events_has_its_whole_budget_and_no_alert(store_url: str) -> None:
    found = (await read(store_url, [QUIET_SLO]))["quiet"]
    assert (found.window.events, found.window.bad, found.sli) == (0, 0, None)
    assert found.budget_remaining == 1.0
    assert found.burn_rates == dict.fromkeys(WINDOWS, 0.0)
    assert found.alert is None


async def test_a_fast_burn_in_the_records_pages(store_url: str) -> None:
    outcomes = []
    for minute in range(60):  # an hour of 20% dead letters: 20x the budget everywhere
        outcomes += [*times(8, minute * MINUTE, "ok"), *times(2, minute * MINUTE, "dead")]
    await recorded(store_url, [ERP_SLO], outcomes)
    found = (await read(store_url, [ERP_SLO]))["erp-sync"]
    assert found.burn_rates["1h"] == pytest.approx(20.0)
    assert found.burn_rates["5m"] == pytest.approx(20.0)
    assert found.alert == "page"
    stopped = (await read(store_url, [ERP_SLO], NOW + 10 * MINUTE))["erp-sync"]
    assert stopped.burn_rates["5m"] == 0.0 and stopped.burn_rates["1h"] > 14.4
    assert stopped.alert == "page"  # no longer 1h and 5m, but still 6h and 30m
    later = (await read(store_url, [ERP_SLO], NOW + 31 * MINUTE))["erp-sync"]
    assert later.burn_rates["30m"] == 0.0 and later.burn_rates["6h"] > 6
    assert later.alert == "ticket"  # neither short window of a page sees the burn now


# -- the admin API, over real HTTP --------------------------------------------------------


async def test_admin_slos_shows_each_slo_to_an_admin_read_key(store_url: str) -> None:
    app = App("commerce", store=store_url)
    erp = Integration("erp-sync", owner="team-finance", runbook="https://wiki.example/erp")
    erp.slo(success=0.99, sync_within="5m", window="30d")
    quiet = Integration("quiet", owner="team-quiet")
    quiet.slo(success=0.999, window="7d")
    app.include(erp, quiet)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        now = time.time()
        rows = [  # 20 minutes of 100 delivered and 25 dead letters each: a 20% error ratio
            ("erp-sync", "erp", "post", _minute(now - m * MINUTE), 100, 0, 25, 25, 0)
            for m in range(20)
        ]
        await app.store.write(lambda tx: tx.executemany(INSERT, rows))
        async with httpx.AsyncClient(base_url=app.http.url) as http:
            assert (await http.get("/admin/slos")).status_code == 401
            metrics = await api_key(app, "metrics:read")
            assert (await http.get("/admin/slos", headers=bearer(metrics))).status_code == 403
            answer = await http.get("/admin/slos", headers=bearer(await api_key(app, "admin:read")))
    assert answer.status_code == 200, answer.text
    found = {entry["integration"]: entry for entry in answer.json()["slos"]}
    erp_found = found["erp-sync"]
    assert erp_found["objective"] == 0.99
    assert (erp_found["window"], erp_found["window_s"]) == ("30d", 30 * DAY)
    assert (erp_found["sync_within"], erp_found["sync_within_s"]) == ("5m", 300.0)
    assert (erp_found["events"], erp_found["bad"]) == (2500, 500)
    assert erp_found["budget_remaining"] == pytest.approx(1 - 500 / 25)
    assert set(erp_found["burn_rates"]) == set(WINDOWS)
    assert erp_found["burn_rates"]["5m"] == pytest.approx(20.0)
    assert erp_found["alert"] == "page"
    assert erp_found["runbook"] == "https://wiki.example/erp"
    assert found["quiet"]["budget_remaining"] == 1.0 and found["quiet"]["alert"] is None
    assert found["quiet"]["sync_within"] is None and found["quiet"]["sli"] is None


INSERT = (
    "INSERT INTO observe_minutes (integration, partner, consumer, minute, delivered, late,"
    " dead, failed, retried) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _minute(at: float) -> int:
    us = int(at * 1_000_000)
    return us - us % 60_000_000


# -- the CLI ----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTERY_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("commerce_app", "plain_app"):  # another test's module of the same name
        sys.modules.pop(name, None)
    (tmp_path / "commerce_app.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "plain_app.py").write_text(textwrap.dedent(NO_SLO))
    yield tmp_path
    for name in ("commerce_app", "plain_app"):
        sys.modules.pop(name, None)


def artery(url: str, *args: str) -> Result:
    return runner.invoke(cli, ["--store", url, *args], env={"COLUMNS": "240"})


def table_rows(output: str) -> dict[str, list[str]]:
    """The status table's cells by integration (columns are two spaces apart or more)."""
    rows = {}
    for line in output.splitlines():
        cells = [cell for cell in line.strip().split("  ") if cell.strip()]
        if cells and cells[0].endswith("-sync"):
            rows[cells[0].strip()] = [cell.strip() for cell in cells[1:]]
    return rows


def write_minutes(url: str, rows: list[tuple[object, ...]]) -> None:
    async def write() -> None:
        async with open_runtime(Settings(store=url)) as runtime:
            await runtime.store.write(lambda tx: tx.executemany(INSERT, rows))

    asyncio.run(write())


def test_slo_rules_prints_the_rules_file_without_opening_a_store(work: Path) -> None:
    result = artery("postgresql://nobody@127.0.0.1:1/none", "slo", "rules", "commerce_app:app")
    assert result.exit_code == 0, result.output
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(result.output)["groups"]}
    assert set(groups) == {"artery-slo-crm-sync", "artery-slo-erp-sync"}
    erp = groups["artery-slo-erp-sync"]
    recorded_names = [r["record"] for r in erp if "record" in r]
    assert [f"artery:slo_errors:ratio_rate{w}" for w in WINDOWS] == [
        name for name in recorded_names if name.startswith("artery:slo_errors:")
    ]
    alerts = {r["labels"]["severity"]: r for r in erp if "alert" in r}
    assert set(alerts) == {"page", "ticket"}
    page = alerts["page"]
    assert page["labels"]["integration"] == "erp-sync"
    assert 'le="300.0"' in next(
        r["expr"] for r in erp if r.get("record", "").endswith("good_events:rate5m")
    )
    assert "ratio_rate1h" in page["expr"] and "(14.4 * 0.001)" in page["expr"]
    assert "ratio_rate6h" in page["expr"] and "(6 * 0.001)" in page["expr"]
    assert "ratio_rate3d" in alerts["ticket"]["expr"] and "(1 * 0.001)" in alerts["ticket"]["expr"]
    assert page["annotations"]["runbook_url"] == "https://wiki.example/erp-sync"
    assert page["annotations"]["objective"] == "99.9% of events delivered within 5m over 30d"
    crm_page = next(r for r in groups["artery-slo-crm-sync"] if r.get("alert"))
    assert "runbook_url" not in crm_page["annotations"]
    assert "crm-sync" in crm_page["annotations"]["summary"]


def test_slo_commands_refuse_an_app_without_slos(work: Path, sqlite_url: str) -> None:
    for command in ("rules", "status"):
        result = artery(sqlite_url, "slo", command, "plain_app:app")
        assert result.exit_code == 2, result.output
        assert "declares no SLO" in result.output and "slo(success=" in result.output


def test_slo_status_exits_1_while_an_alert_fires(work: Path, sqlite_url: str) -> None:
    quiet = artery(sqlite_url, "slo", "status", "commerce_app:app")
    assert quiet.exit_code == 0, quiet.output
    rows = table_rows(quiet.output)
    assert rows["erp-sync"][:4] == ["99.9% in 5m / 30d", "0", "0", "100.0%"]
    assert rows["crm-sync"][0] == "99% / 7d" and rows["crm-sync"][-1] == "-"
    now = time.time()
    write_minutes(  # 20 minutes in which 1 event in 10 was dead-lettered: 100x the budget
        sqlite_url,
        [
            ("erp-sync", "erp", "post", _minute(now - m * MINUTE), 90, 0, 10, 10, 0)
            for m in range(20)
        ],
    )
    burning = artery(sqlite_url, "slo", "status", "commerce_app:app")
    assert burning.exit_code == 1, burning.output
    rows = table_rows(burning.output)
    assert rows["erp-sync"][1:3] == ["2000", "200"]  # events and bad over the window
    assert rows["erp-sync"][4] == "100.0" and rows["erp-sync"][-1] == "PAGE"  # 5m burn
    assert rows["crm-sync"][-1] == "-"
    as_json = artery(sqlite_url, "slo", "status", "commerce_app:app", "--json")
    assert as_json.exit_code == 1
    found = {s["integration"]: s for s in json.loads(as_json.output)["slos"]}
    assert found["erp-sync"]["alert"] == "page" and found["crm-sync"]["alert"] is None
    assert (found["erp-sync"]["events"], found["erp-sync"]["bad"]) == (2000, 200)
    assert found["erp-sync"]["runbook"] == "https://wiki.example/erp-sync"


# -- promtool ---------------------------------------------------------------------------


@pytest.fixture
def rules_dir(tmp_path: Path, work: Path) -> Path:
    """The generated rules beside a copy of the promtool test of them."""
    app = load_app("commerce_app:app")
    runbooks = {name: i.runbook for name, i in app.declared.integrations.items()}
    (tmp_path / "slo_rules.yml").write_text(rules_yaml(app.declared.slos.values(), runbooks))
    shutil.copy(Path(__file__).parent / "slo_rules_test.yml", tmp_path / "slo_rules_test.yml")
    return tmp_path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@promtool_required
def test_the_generated_rules_pass_promtool_check(rules_dir: Path) -> None:
    checked = promtool("check", "rules", "slo_rules.yml", cwd=rules_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 46 rules found" in checked.stdout  # 3 per window and 2 alerts, twice


@promtool_required
def test_burn_rate_alerts_fire_when_they_should_and_not_before(rules_dir: Path) -> None:
    """Fast burn pages once both windows exceed 14.4x (a minute earlier: nothing), a slow
    burn opens a ticket, healthy traffic fires nothing, silent windows have no ratio."""
    tested = promtool("test", "rules", "slo_rules_test.yml", cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr
