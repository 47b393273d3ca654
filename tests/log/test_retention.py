"""Retention: the background sweeper, and what it must never drop silently."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from artery import App, DeliveryContext, Event, Retention
from artery.config import Settings
from artery.log.retention import RetentionSweeper
from support import eventually

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def retention_app(
    store_url: str, log_url: str, retention: Retention, interval: float = 0.05
) -> App:
    settings = Settings(store=store_url, log=log_url, retention_interval=interval)
    app = App("retention", settings=settings)
    app.contract("orders", schema=ORDER, partitions=1, retention=retention)
    return app


def sweeper_of(app: App) -> RetentionSweeper:
    """A sweeper that knows the app's declared groups, as a worker's has."""
    return RetentionSweeper([(c.group, c.topic, c.start) for c in app.declared.consumers.values()])


async def stored(app: App) -> int:
    return len(await app.log.read("orders", 0, 0, limit=10_000))


async def test_retention_sweeper_survives_an_unexpected_error_and_reports_unhealthy(
    store_url: str, log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = retention_app(store_url, log_url, Retention(max_count=3))
    left, unhealthy_seen = 3, False
    async with app.running():  # a worker: it runs the retention sweeper
        topics = app.log.backend.topics

        async def flaky() -> Any:
            nonlocal left, unhealthy_seen
            if left:
                left -= 1
                unhealthy_seen = unhealthy_seen or not app.health.healthy
                raise RuntimeError("injected fault")
            return await topics()

        monkeypatch.setattr(app.log.backend, "topics", flaky)
        for n in range(10):
            await app.publish("orders", {"n": n})
        await eventually(lambda: left == 0, timeout=10, what="the sweeper to retry")
        assert unhealthy_seen, "the failing sweeper marks the process unhealthy"

        async def trimmed() -> bool:
            return await stored(app) == 3

        await eventually(trimmed, timeout=10, what="retention to apply after the fault")
        await eventually(lambda: app.health.healthy, timeout=10, what="health to recover")


async def publish(app: App, count: int) -> None:
    for start in range(0, count, 100):
        batch = [app.event("orders", {"n": n}) for n in range(start, min(count, start + 100))]
        await app.publish_many("orders", batch)


async def test_retention_keeps_what_a_declared_group_has_not_read(
    store_url: str, log_url: str
) -> None:
    app = retention_app(store_url, log_url, Retention(max_count=50), interval=3600)
    handled: list[int] = []

    @app.consumer("orders", group="erp")
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        handled.append(event.data["n"])

    async with app.running(None):  # the group has never run yet
        await publish(app, 500)
        await sweeper_of(app).sweep(app.runtime)
        assert await stored(app) == 500, "nothing the group has not settled is dropped"
    async with app.running():
        await eventually(lambda: len(handled) == 500, timeout=30, what="every event delivered")

        async def settled() -> bool:
            return not any((await app.log.lag("erp", "orders")).values())

        await eventually(settled, timeout=10, what="the group to commit")
        await sweeper_of(app).sweep(app.runtime)
        assert await stored(app) == 50, "once settled, retention applies"
    assert sorted(handled) == list(range(500))


async def test_retention_keeps_what_a_group_with_offsets_has_not_read(
    store_url: str, log_url: str
) -> None:
    app = retention_app(store_url, log_url, Retention(max_count=50), interval=3600)
    async with app.running(None):
        await publish(app, 500)
        await app.log.commit("billing", "orders", {0: 100})  # a group this app does not declare
        await sweeper_of(app).sweep(app.runtime)
        events = await app.log.read("orders", 0, 0, limit=10_000)
        assert [e.offset for e in events] == list(range(100, 500))


async def test_retention_drops_unconsumed_only_when_told_and_counts_it_per_group(
    store_url: str, log_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = retention_app(
        store_url, log_url, Retention(max_count=50, drop_unconsumed=True), interval=3600
    )

    @app.consumer("orders", group="erp")
    async def handle(event: Event, ctx: DeliveryContext) -> None: ...

    async with app.running(None):
        await publish(app, 500)
        with caplog.at_level(logging.WARNING, logger="artery.retention"):
            await sweeper_of(app).sweep(app.runtime)
        assert await stored(app) == 50
        assert await app.log.backend.dropped() == {("erp", "orders"): 450}
        await sweeper_of(app).sweep(app.runtime)  # nothing more to drop: the count stays
        assert await app.log.backend.dropped() == {("erp", "orders"): 450}
    assert "450 event(s) of orders that group erp had not read" in caplog.text


async def test_a_declared_group_is_joined_once_not_at_every_sweep(
    store_url: str, log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = retention_app(store_url, log_url, Retention(max_count=5), interval=3600)

    @app.consumer("orders", group="erp")
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        pass

    async with app.running(None):
        joins: list[str] = []
        join = app.log.join

        async def counted(group: str, topic: str, start: str = "earliest") -> None:
            joins.append(group)
            await join(group, topic, start)

        monkeypatch.setattr(app.log, "join", counted)
        await publish(app, 20)
        sweeper = sweeper_of(app)
        for _ in range(3):
            await sweeper.sweep(app.runtime)
        assert joins == ["erp"], "one store write for the group, not one per sweep"
        assert await stored(app) == 20, "its backlog is still kept"
