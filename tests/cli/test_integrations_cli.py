"""``artery integrations list|show``: the inventory, read from the app's declarations."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from artery.cli import app as cli

runner = CliRunner()

MODULE = """
from artery import App, Integration, Retry

ORDER = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "email": {"type": "string", "x-artery-classification": "pii"},
        "card": {"type": "string", "x-artery-classification": "secret"},
    },
}
app = App("commerce")
orders = Integration(
    "orders", owner="team-orders", purpose="take orders from the shop", partners=["shop"]
)
placed = orders.contract("commerce.order.placed", schema=ORDER, owner="team-orders")

erp = Integration(
    "erp-sync",
    owner="team-finance",
    transport_owner="team-platform",
    purpose="post an invoice for every order",
    partners=["erp"],
    runbook="https://wiki.example/erp-sync",
)


@erp.consumer("commerce.order.placed", group="erp", retry=Retry(attempts=8, base="1s", cap="10m"))
async def post_invoice(event, ctx):
    pass


@erp.workflow(on=placed)
async def reconcile(ctx, order):
    return order


app.include(orders, erp)
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "commerce_app.py").write_text(textwrap.dedent(MODULE))
    return tmp_path


def artery(*args: str) -> Result:
    # No store is opened: a store URL that cannot be reached proves it.
    return runner.invoke(
        cli, ["--store", "postgresql://nobody@127.0.0.1:1/none", *args], env={"COLUMNS": "240"}
    )


def test_list_shows_every_integration_with_owners_and_flags_the_unowned(work: Path) -> None:
    result = artery("integrations", "list", "commerce_app:app")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│" in line}
    assert "NO OWNER" in rows["commerce"]
    assert "team-finance" in rows["erp-sync"] and "team-platform" in rows["erp-sync"]
    assert "post an invoice for every order" in rows["erp-sync"]
    assert "without an owner" in result.output


def test_show_json_names_contracts_read_with_their_owner_and_classified_fields(
    work: Path,
) -> None:
    result = artery("integrations", "show", "commerce_app:app", "erp-sync", "--json")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)
    assert entry["partners"] == ["erp"] and entry["runbook"].endswith("erp-sync")
    assert entry["writes"] == []
    assert entry["reads"] == [
        {
            "subject": "commerce.order.placed",
            "topic": "commerce.order.placed",
            "owner": "team-orders",
            "declared_by": "orders",
        }
    ]
    assert {(f["pointer"], f["classification"]) for f in entry["classified_fields"]} == {
        ("/email", "pii"),
        ("/card", "secret"),
    }
    consumers = {c["group"]: c for c in entry["consumers"]}
    assert set(consumers) == {"erp", "workflow.reconcile"}
    assert consumers["erp"]["retry"] == {
        "attempts": 8,
        "base_s": 1.0,
        "cap_s": 600.0,
        "jitter": "full",
    }
    assert "after 8 attempt(s)" in consumers["erp"]["dead_letter"]
    (workflow,) = entry["workflows"]
    assert workflow["name"] == "reconcile" and workflow["started_on"] == "commerce.order.placed"


def test_show_text_names_the_owning_team_and_policies(work: Path) -> None:
    result = artery("integrations", "show", "commerce_app:app", "orders")
    assert result.exit_code == 0, result.output
    assert "team-orders" in result.output
    assert "commerce.order.placed /card [secret]" in result.output
    assert "commerce.order.placed (owner team-orders)" in result.output


def test_show_of_an_unknown_integration_exits_with_the_known_names(work: Path) -> None:
    result = artery("integrations", "show", "commerce_app:app", "erp")
    assert result.exit_code == 2, result.output
    assert "no integration named 'erp'" in result.output
    assert "commerce, erp-sync, orders" in result.output
