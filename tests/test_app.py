"""An App runs in-process: declared contracts are installed on start, publish validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from artery import App, ConfigError, ContractViolation, InvalidSchema, Retention, Settings

SCHEMA = {
    "type": "object",
    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["sku", "qty"],
}


async def test_running_app_installs_contracts_and_topics(store_url: str) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema=SCHEMA, owner="team-stock", partitions=2)
    async with app.running():
        assert (await app.registry.get("stock.changed")).owner == "team-stock"
        assert (await app.log.topic(stock.topic)).partitions == 2
        event = await app.publish(stock, {"sku": "X", "qty": 2}, key="X")
        assert (event.topic, event.offset, event.type) == ("stock.changed", 0, "stock.changed")
        assert event.source == "artery://shop"


async def test_restart_keeps_events_and_does_not_duplicate_versions(store_url: str) -> None:
    for round_ in range(2):
        app = App("shop", store=store_url)
        stock = app.contract("stock.changed", schema=SCHEMA)
        async with app.running():
            stored = await app.publish(stock, {"sku": "X", "qty": 1}, key="X")
            assert stored.offset == round_
            assert len(await app.registry.versions("stock.changed")) == 1


async def test_publish_refuses_invalid_data(store_url: str) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema=SCHEMA)
    async with app.running():
        with pytest.raises(ContractViolation, match="/qty"):
            await app.publish(stock, {"sku": "X", "qty": 0})


async def test_publish_many_is_all_or_nothing(store_url: str) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema=SCHEMA, partitions=1)
    async with app.running():
        good = app.event(stock, {"sku": "A", "qty": 1})
        bad = app.event(stock, {"sku": "B"})
        with pytest.raises(ContractViolation):
            await app.publish_many(stock, [good, bad])
        assert await app.log.read(stock.topic, 0, 0) == []
        assert len(await app.publish_many(stock, [good, app.event(stock, {"sku": "B", "qty": 3})]))


async def test_using_an_app_that_is_not_running_says_how(tmp_path: Path) -> None:
    app = App("shop", store=f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(ConfigError, match=r"app\.running"):
        await app.publish("x", {})


def test_missing_schema_file_names_the_path(tmp_path: Path) -> None:
    app = App("shop", store=f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(InvalidSchema, match="does not exist"):
        app.contract("x", schema=tmp_path / "nope.json")


def test_settings_come_from_env_then_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "artery.toml").write_text(
        '[artery]\nstore = "sqlite:///from-toml.db"\npartitions = 3\ndedupe_window = "2h"\n'
    )
    monkeypatch.setenv("ARTERY_PARTITIONS", "5")
    settings = Settings.load(tmp_path / "artery.toml")
    assert (settings.store, settings.partitions, settings.dedupe_window) == (
        "sqlite:///from-toml.db",
        5,
        7200.0,
    )


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTERY_PARTITIONS", "many")
    with pytest.raises(ConfigError, match="ARTERY_PARTITIONS"):
        Settings.load("/nonexistent/artery.toml")


async def test_retention_is_declared_with_the_contract(store_url: str) -> None:
    app = App("shop", store=store_url)
    stock = app.contract(
        "stock.changed", schema=SCHEMA, retention=Retention(max_count=2), partitions=1
    )
    async with app.running():
        for n in range(1, 6):
            await app.publish(stock, {"sku": "A", "qty": n})
        assert await app.log.trim(stock.topic) == 3
