"""``artery sources list|test``: the webhook sources with their liveness from the store,
and a saved vendor payload mapped and checked without publishing anything; ``artery
destinations list|disable|enable``: destinations switched off and on in the store."""

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
from artery import App, Integration

ORDER = {
    "type": "object",
    "required": ["order_id", "total_cents"],
    "properties": {
        "order_id": {"type": "string"},
        "total_cents": {"type": "integer", "minimum": 0},
    },
}
app = App("shop-hooks")
shop = Integration("shop-sync", owner="team-shop")
orders = shop.contract("shop.order", schema=ORDER)
shop.webhook_source(
    "shop", scheme="shopify", secret="cli-shop", emits=orders, mapping="shop.jmespath",
    expect_every="15m",
)
app.include(shop)
"""
MAPPING = "{order_id: to_string(id), total_cents: round(multiply(to_number(total_price), `100`))}"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("ARTERY_SECRET_CLI_SHOP", "shpss_secret")
    (tmp_path / "hooks_app.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "shop.jmespath").write_text(MAPPING)
    return tmp_path


def artery(*args: str, store: str | None = None) -> Result:
    store = store or "postgresql://nobody@127.0.0.1:1/none"  # test opens no store
    return runner.invoke(cli, ["--store", store, *args], env={"COLUMNS": "240"})


def test_test_prints_the_mapped_event_and_says_it_is_valid(work: Path) -> None:
    (work / "order.json").write_text('{"id": 820982911946154508, "total_price": "403.00"}')
    result = artery("sources", "test", "hooks_app:app", "shop", "order.json")
    assert result.exit_code == 0, result.output
    assert '"order_id": "820982911946154508"' in result.output
    assert '"total_cents": 40300' in result.output
    assert "valid shop.order event" in result.output


def test_test_names_the_pointers_of_an_invalid_mapped_event(work: Path) -> None:
    (work / "order.json").write_text('{"id": 7, "total_price": "-1.00"}')
    result = artery("sources", "test", "hooks_app:app", "shop", "order.json")
    assert result.exit_code != 0
    assert "violates shop.order at /total_cents" in result.output


def test_test_names_the_expression_a_payload_breaks(work: Path) -> None:
    (work / "order.json").write_text('{"id": 7, "total_price": {"amount": 1}}')
    result = artery("sources", "test", "hooks_app:app", "shop", "order.json")
    assert result.exit_code != 0
    assert "mapping file 'shop.jmespath' failed" in result.output


def test_test_refuses_an_unknown_source_and_a_missing_file(work: Path) -> None:
    assert "known: shop" in artery("sources", "test", "hooks_app:app", "nope", "x.json").output
    missing = artery("sources", "test", "hooks_app:app", "shop", "x.json")
    assert missing.exit_code != 0 and "not a readable JSON file" in missing.output


def test_list_shows_each_source_with_its_liveness(work: Path, sqlite_url: str) -> None:
    result = artery("sources", "list", "hooks_app:app", "--json", store=sqlite_url)
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["path"] == "/hooks/shop" and entry["scheme"] == "shopify"
    assert entry["mapping"] == "file 'shop.jmespath'"
    assert entry["accepted"] == 0 and entry["silent"] is False
    assert entry["secret"] == ["ARTERY_SECRET_CLI_SHOP"]
    assert "shpss_secret" not in result.output


DESTINATIONS = """
from artery import App, Integration

app = App("out")
shop = Integration("shop-sync", owner="team-shop")
shop.contract("shop.order", schema={"type": "object"})
shop.webhook_destination(
    "erp", url="https://93.184.216.34/hooks", events=["shop.*"], secret="cli-erp"
)
app.include(shop)
"""


def test_destinations_disable_enable_and_list_on_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("ARTERY_SECRET_CLI_ERP", "whsec_" + "a" * 32)
    (tmp_path / "out_app.py").write_text(textwrap.dedent(DESTINATIONS))
    first = artery("destinations", "disable", "out_app:app", "erp", store=sqlite_url)
    assert first.exit_code == 0, first.output
    assert "erp: disabled" in first.output
    again = artery("destinations", "disable", "out_app:app", "erp", store=sqlite_url)
    assert "already disabled" in again.output
    (entry,) = json.loads(
        artery("destinations", "list", "out_app:app", "--json", store=sqlite_url).output
    )
    assert entry["enabled"] is False and "CLI" in entry["disabled_reason"]
    artery("destinations", "enable", "out_app:app", "erp", store=sqlite_url)
    (entry,) = json.loads(
        artery("destinations", "list", "out_app:app", "--json", store=sqlite_url).output
    )
    assert entry["enabled"] is True


def test_destinations_made_changed_and_removed_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("ARTERY_SECRET_CLI_ERP", "whsec_" + "a" * 32)
    (tmp_path / "out_app.py").write_text(textwrap.dedent(DESTINATIONS))
    made = artery(
        "destinations",
        "create",
        "out_app:app",
        "crm",
        "--url",
        "https://93.184.216.35/in",
        "--event",
        "shop.order",
        "--secret",
        "cli-erp",
        store=sqlite_url,
    )
    assert made.exit_code == 0, made.output
    names = {
        e["name"]: e
        for e in json.loads(
            artery("destinations", "list", "out_app:app", "--json", store=sqlite_url).output
        )
    }
    assert set(names) == {"erp", "crm"} and names["crm"]["url"] == "https://93.184.216.35/in"
    inside = artery(
        "destinations",
        "update",
        "out_app:app",
        "crm",
        "--url",
        "https://10.0.0.8/",
        "--event",
        "shop.order",
        "--secret",
        "cli-erp",
        store=sqlite_url,
    )
    assert inside.exit_code != 0 and "private" in inside.output
    code = artery("destinations", "delete", "out_app:app", "erp", store=sqlite_url)
    assert code.exit_code != 0 and "declared in the app's code" in code.output
    gone = artery("destinations", "delete", "out_app:app", "crm", store=sqlite_url)
    assert gone.exit_code == 0, gone.output
    listed = json.loads(
        artery("destinations", "list", "out_app:app", "--json", store=sqlite_url).output
    )
    assert [e["name"] for e in listed] == ["erp"]
