"""An App runs in-process: declared contracts are installed on start, publish validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from artery import App, ConfigError, ContractViolation, InvalidSchema, Retention, Settings
from artery.errors import BatchViolation, EventTooLarge, InvalidEvent

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


async def test_publish_many_refuses_an_event_whose_type_is_not_the_topics_contract(
    store_url: str,
) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema=SCHEMA, partitions=1)
    loose = app.contract("anything", schema={"type": "object"})
    async with app.running():
        good = app.event(stock, {"sku": "A", "qty": 1})
        stray = app.event(loose, {"sku": "B", "qty": 1})
        with pytest.raises(InvalidEvent, match="event 1 has type 'anything' but topic"):
            await app.publish_many(stock, [good, stray])
        assert await app.log.read(stock.topic, 0, 0) == []


async def test_publishing_by_topic_name_stamps_the_topics_contract_as_type(
    store_url: str,
) -> None:
    app = App("shop", store=store_url)
    app.contract("stock.changed", schema=SCHEMA, topic="stock", partitions=1)
    async with app.running():
        event = await app.publish("stock", {"sku": "A", "qty": 1})
    assert (event.topic, event.type) == ("stock", "stock.changed")


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


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"sku": "X", "qty": 1, "deep": nested(300)}, "nested deeper"),
        ({"sku": "X", "qty": 1, "tags": {"a", "b"}}, "not JSON"),
        ({"sku": "X", "qty": 2**64}, "64-bit"),
    ],
)
async def test_publish_of_data_json_cannot_hold_is_an_invalid_event(
    store_url: str, data: object, reason: str
) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema={"type": "object"}, partitions=1)
    async with app.running():
        with pytest.raises(InvalidEvent, match=reason) as raised:
            await app.publish(stock, data)
        assert raised.value.exit_status == 2 and raised.value.fix
        assert await app.log.read(stock.topic, 0, 0) == []


async def test_event_over_max_event_size_is_refused_before_anything_is_written(
    store_url: str,
) -> None:
    app = App("shop", settings=Settings(store=store_url, max_event_size=4096))
    stock = app.contract("stock.changed", schema={"type": "object"}, partitions=1)
    async with app.running():
        small = app.event(stock, {"note": "x" * 100})
        big = app.event(stock, {"note": "x" * 5000})
        with pytest.raises(EventTooLarge, match=r"event 1 .*4096 bytes.*ARTERY_MAX_EVENT_SIZE"):
            await app.publish_many(stock, [small, big])
        assert await app.log.read(stock.topic, 0, 0) == []
        assert (await app.publish(stock, {"note": "x" * 3000})).offset == 0


def test_max_event_size_defaults_to_one_mebibyte_and_comes_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().max_event_size == 1024 * 1024
    monkeypatch.setenv("ARTERY_MAX_EVENT_SIZE", "2048")
    assert Settings.load("/nonexistent/artery.toml").max_event_size == 2048


async def test_publish_many_reports_every_invalid_event_by_index(store_url: str) -> None:
    app = App("shop", store=store_url)
    stock = app.contract("stock.changed", schema=SCHEMA, partitions=1)
    async with app.running():
        events = [
            app.event(stock, {"sku": "A", "qty": 1}),
            app.event(stock, {"sku": "B"}),
            app.event(stock, {"sku": "C", "qty": 2}),
            app.event(stock, {"sku": "D", "qty": 0}),
        ]
        with pytest.raises(ContractViolation) as raised:
            await app.publish_many(stock, events)
        assert isinstance(raised.value, BatchViolation)
        assert sorted(raised.value.failures) == [1, 3]
        assert [v.pointer for v in raised.value.failures[3]] == ["/qty"]
        assert "event 1:" in str(raised.value) and "event 3: /qty" in str(raised.value)
        assert await app.log.read(stock.topic, 0, 0) == []


async def test_contract_with_zero_partitions_is_refused_not_given_the_default(
    store_url: str,
) -> None:
    app = App("shop", store=store_url)
    app.contract("stock.changed", schema=SCHEMA, partitions=0)
    with pytest.raises(ConfigError, match="0 partitions"):
        async with app.running():
            pass
