"""``artery status``: one screen per integration from the store, exiting 1 while something
needs a person (a dead letter, an event type nobody consumes, a silent source, an SLO
alert, a failing loop) and 0 when nothing does."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from artery import App
from artery.cli import app as cli
from artery.cli.loader import load_app
from artery.gateway.server import Listen
from artery.observe.beacon import Beacon
from artery.observe.status import status
from support import eventually

runner = CliRunner()

MODULE = """
from artery import App, Integration, Permanent

ORDER = {"type": "object", "properties": {"qty": {"type": "integer"}}, "required": ["qty"]}
app = App("shop-status")
erp = Integration("erp-sync", owner="team-erp", partners=["erp"])
orders = erp.contract("shop.order", schema=ORDER)
refunds = erp.contract("shop.refund", schema=ORDER)
erp.slo(success=0.9, sync_within="5m")
erp.webhook_source("shop", scheme="shopify", secret="status-shop", emits=orders, expect_every=0.2)

@erp.consumer(orders, group="erp-writer", retry=None)
async def write(event, ctx):
    if event.data["qty"] % 2:
        raise Permanent("odd quantities are refused")

app.include(erp)
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "status_app", raising=False)  # each test its own
    monkeypatch.setenv("ARTERY_SECRET_STATUS_SHOP", "shpss_secret")
    (tmp_path / "status_app.py").write_text(textwrap.dedent(MODULE))
    return tmp_path


def artery(*args: str, store: str) -> Result:
    return runner.invoke(cli, ["--store", store, *args], env={"COLUMNS": "240"})


def loaded(store: str) -> App:
    app = load_app("status_app:app")
    app.settings = app.settings.__class__(**{**app.settings.__dict__, "store": store})
    return app


async def run_a_while(app: App, publish: list[tuple[str, int]]) -> None:
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        for subject, qty in publish:
            await app.publish(subject, {"qty": qty})

        async def settled() -> bool:
            return not sum((await app.log.lag("erp-writer", "shop.order")).values())

        await eventually(settled, "the consumer caught up")
        await asyncio.sleep(1.2)  # records flush each second


def test_a_dead_letter_an_unconsumed_type_and_a_silent_source_need_a_person(
    work: Path, store_url: str
) -> None:
    asyncio.run(
        run_a_while(loaded(store_url), [("shop.order", 2), ("shop.order", 3), ("shop.refund", 1)])
    )
    result = artery("status", "status_app:app", store=store_url)
    assert result.exit_code == 1, result.output
    assert "erp-sync: 1 dead letter(s) wait" in result.output
    assert "event type shop.refund is published; nobody consumes it" in result.output
    assert "erp-sync: webhook source shop is silent" in result.output
    shown = artery("status", "status_app:app", "--json", store=store_url)
    found = json.loads(shown.output)
    (erp,) = [i for i in found["integrations"] if i["name"] == "erp-sync"]
    assert erp["dead_letters_waiting"] == 1 and erp["delivered_per_min_5m"] == 0.2
    assert erp["slo"]["events"] == 2 and erp["slo"]["bad"] == 1
    assert erp["backlog"] == [
        {"group": "erp-writer", "topic": "shop.order", "events": 0, "oldest_s": 0.0}
    ]
    assert found["unconsumed_event_types"] == ["shop.refund"]


def test_nothing_to_do_exits_zero(work: Path, sqlite_url: str) -> None:
    (work / "status_app.py").write_text(
        textwrap.dedent(MODULE).replace("expect_every=0.2", "expect_every='1h'")
    )
    asyncio.run(run_a_while(loaded(sqlite_url), [("shop.order", 2)]))
    result = artery("status", "status_app:app", store=sqlite_url)
    assert result.exit_code == 0, result.output
    assert "nothing needs attention" in result.output


async def test_a_failing_loop_of_a_running_process_is_reported(work: Path, sqlite_url: str) -> None:
    app = loaded(sqlite_url)
    async with app.running("worker"):
        beacon = next(s for s in app.services if isinstance(s, Beacon))
        app.health.failed("erp-poller", OSError("connection refused"))
        await beacon.beat()
        found = await status(app.runtime, app.declared)
        (mine,) = [p for p in found.processes if p["process"] == beacon.process]
        assert [f["loop"] for f in mine["failing"]] == ["erp-poller"]
        assert f"process {beacon.process}: loop erp-poller fails" in found.attention
        app.health.recovered("erp-poller")
        await beacon.beat()
        assert not [
            a for a in (await status(app.runtime, app.declared)).attention if "erp-poller" in a
        ]
