"""Retention: the background sweeper, and what it must never drop silently."""

from __future__ import annotations

from typing import Any

import pytest

from artery import App, Retention
from artery.config import Settings
from support import eventually

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def retention_app(store_url: str, retention: Retention, interval: float = 0.05) -> App:
    app = App("retention", settings=Settings(store=store_url, retention_interval=interval))
    app.contract("orders", schema=ORDER, partitions=1, retention=retention)
    return app


async def stored(app: App) -> int:
    return len(await app.log.read("orders", 0, 0, limit=10_000))


async def test_retention_sweeper_survives_an_unexpected_error_and_reports_unhealthy(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = retention_app(store_url, Retention(max_count=3))
    left, unhealthy_seen = 3, False
    async with app.running(workers=False):
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
