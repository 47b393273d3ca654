"""/metrics in business terms, scraped over real HTTP: outcomes by integration, partner,
consumer and event type, time to sync, backlog, business counters; the exposition passes
promtool, and it answers only to a credential with the metrics:read scope."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from artery import App, Integration, Listen, Permanent
from artery.delivery.consumer import DeliveryContext
from artery.envelope import Event
from support import api_key, bearer, eventually

ORDER = {
    "type": "object",
    "properties": {"order": {"type": "string"}, "qty": {"type": "integer"}},
    "required": ["order", "qty"],
}


@dataclass
class Shop:
    app: App
    url: str
    key: str

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with httpx.AsyncClient(base_url=self.url, headers=bearer(self.key)) as http:
            answer = await http.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples


def shop_app(store_url: str) -> App:
    app = App("shop", store=store_url)
    erp = Integration("erp-sync", owner="team-erp", partners=["erp"])
    orders = erp.contract("shop.order", schema=ORDER)
    synced = erp.counter("orders_synced", "Orders written to the ERP")
    erp.slo(success=0.99, sync_within="5m", window="30d")

    @erp.consumer(orders, group="erp-writer", retry=None)
    async def write_to_erp(event: Event, ctx: DeliveryContext) -> None:
        if event.data["qty"] % 2:
            raise Permanent("the ERP refuses odd quantities")
        synced.inc()

    app.include(erp)
    return app


@pytest.fixture
async def shop(store_url: str) -> AsyncIterator[Shop]:
    app = shop_app(store_url)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        yield Shop(app, app.http.url, await api_key(app, "metrics:read"))


def labels(**found: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(found.items()))


DELIVERY = labels(
    integration="erp-sync", partner="erp", consumer="shop_app.<locals>.write_to_erp",
    event_type="shop.order",
)  # fmt: skip


async def test_outcomes_are_counted_by_integration_partner_and_event_type(shop: Shop) -> None:
    for n, qty in enumerate((2, 4, 1, 3)):
        await shop.app.publish("shop.order", {"order": f"o{n}", "qty": qty})

    async def settled() -> bool:
        found = await shop.scrape()
        return found.get(("artery_events_dead_lettered_total", DELIVERY)) == 2 and (
            found.get(("artery_events_delivered_total", DELIVERY)) == 2
        )

    await eventually(settled, "two delivered and two dead letters in /metrics")
    found = await shop.scrape()
    failed = labels(**dict(DELIVERY), error="Permanent")
    assert found[("artery_delivery_failures_total", failed)] == 2
    assert found[("artery_time_to_sync_seconds_count", DELIVERY)] == 2
    in_time = labels(**dict(DELIVERY), le="300.0")  # the SLO's threshold is a bucket
    assert found[("artery_time_to_sync_seconds_bucket", in_time)] == 2
    assert found[("artery_orders_synced_total", labels(integration="erp-sync"))] == 2
    published = labels(integration="erp-sync", event_type="shop.order")
    assert found[("artery_events_published_total", published)] == 4


async def test_backlog_and_its_oldest_age_are_gauges_per_group(shop: Shop) -> None:
    """Refreshed from the store every 5 s: the worker's group appears once it has joined."""
    group = labels(group="erp-writer", topic="shop.order")

    async def reported() -> bool:
        return ("artery_consumer_backlog_events", group) in await shop.scrape()

    await eventually(reported, "the group's backlog in /metrics", timeout=12)
    found = await shop.scrape()
    assert found[("artery_consumer_backlog_events", group)] == 0
    assert found[("artery_consumer_oldest_unprocessed_age_seconds", group)] == 0


async def test_metrics_need_the_metrics_read_scope(shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=shop.url) as http:
        assert (await http.get("/metrics")).status_code == 401
        admin = await api_key(shop.app, "admin:read")
        refused = await http.get("/metrics", headers=bearer(admin))
        assert refused.status_code == 403
        assert "metrics:read" in refused.json()["detail"]


@pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("ARTERY_REQUIRE_SERVICES") != "1",
    reason="promtool (Debian's prometheus package) is not installed",
)
async def test_the_exposition_passes_promtool(shop: Shop) -> None:
    await shop.app.publish("shop.order", {"order": "o1", "qty": 2})
    async with httpx.AsyncClient(base_url=shop.url, headers=bearer(shop.key)) as http:
        text = (await http.get("/metrics")).text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
