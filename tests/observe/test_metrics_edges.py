"""The edges in /metrics: webhook calls by outcome and rejection reason, destination
attempts by status, gateway requests by route, client and status, workflow runs and step
durations, rate-limit waits and breaker state; scraped over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response

from artery import App, Integration, Listen, Settings
from artery.delivery.breaker import BreakerPolicy
from artery.delivery.consumer import DeliveryContext
from artery.delivery.worker import WorkerOptions
from artery.envelope import Event
from artery.webhooks import signing
from artery.workflows import WorkflowContext
from support import api_key, bearer, eventually, partner_at

SECRET = "whsec_" + "c2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz"
ORDER = {"type": "object", "properties": {"order": {"type": "string"}}}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Partner:
    statuses: list[int] = field(default_factory=lambda: [500, 200])
    url: str = ""

    async def answer(self, request: Request) -> Response:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(b"{}", status)


@dataclass
class Edges:
    app: App
    url: str
    key: str

    async def scrape(self) -> Samples:
        async with httpx.AsyncClient(base_url=self.url, headers=bearer(self.key)) as http:
            text = (await http.get("/metrics")).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def value(self, name: str, **labels: str) -> float | None:
        return (await self.scrape()).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
async def edges(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Edges]:
    monkeypatch.setenv("ARTERY_SECRET_SHOP_HOOK", SECRET)
    partner = Partner()
    async with partner_at(tmp_path, partner.answer) as partner.url:
        settings = Settings(
            store=sqlite_url, outbound_allow_http=True, outbound_allowed_hosts=("127.0.0.1",)
        )
        app = App("edges", settings=settings, worker=WorkerOptions(retry_poll=0.05))
        shop = Integration("shop", owner="team-shop", partners=["erp"])
        orders = shop.contract("shop.order", schema=ORDER)
        shop.ingest("/api/orders", orders, scopes=["orders:write"])
        shop.webhook_source("shopify", scheme="standard-webhooks", secret="shop-hook", emits=orders)
        shop.webhook_destination(
            "erp-hook", url=partner.url, events=["shop.order"], secret="shop-hook",
            schedule=["0.05s"] * 3,
        )  # fmt: skip

        @shop.consumer(orders, group="slow-lane", rate_limit="erp:2/s")
        async def limited(event: Event, ctx: DeliveryContext) -> None:
            pass

        @shop.consumer(
            orders, group="fragile", breaker="fragile", breaker_policy=BreakerPolicy(min_calls=1)
        )
        async def fragile(event: Event, ctx: DeliveryContext) -> None:
            if event.data.get("order") == "breaks":
                raise RuntimeError("the ERP is down")

        async def pack(order: str) -> str:
            return f"packed {order}"

        @shop.workflow()
        async def fulfil(ctx: WorkflowContext, order: str) -> str:
            return str(await ctx.step(pack, order, name="pack"))

        app.include(shop)
        async with app.running("run", listen=Listen("127.0.0.1", 0)):
            assert app.http is not None
            yield Edges(app, app.http.url, await api_key(app, "metrics:read", name="prometheus"))


async def test_webhook_calls_are_counted_by_outcome_and_rejection_reason(edges: Edges) -> None:
    body = orjson.dumps({"order": "w1"})
    signed = signing.headers("msg_1", int(time.time()), body, [SECRET])
    async with httpx.AsyncClient(base_url=edges.url) as http:
        assert (await http.post("/hooks/shopify", content=body)).status_code == 401
        assert (await http.post("/hooks/shopify", content=body, headers=signed)).status_code == 200
        assert (await http.post("/hooks/shopify", content=body, headers=signed)).status_code == 200
    found = await edges.scrape()
    calls = {"integration": "shop", "partner": "shopify", "event_type": "shop.order"}
    for outcome in ("rejected", "accepted", "duplicate"):
        key = ("artery_events_ingested_total", tuple(sorted({**calls, "outcome": outcome}.items())))
        assert found[key] == 1, outcome
    rejected = (("reason", "missing-signature"), ("source", "shopify"))
    assert found[("artery_webhook_rejections_total", rejected)] == 1
    webhook = (("client", "source:shopify"), ("route", "POST /hooks/shopify"), ("status", "200"))
    assert found[("artery_http_requests_total", webhook)] == 2


async def test_gateway_requests_are_counted_by_route_client_and_status(edges: Edges) -> None:
    key = await api_key(edges.app, "orders:write", name="storefront")
    async with httpx.AsyncClient(base_url=edges.url, headers=bearer(key)) as http:
        assert (await http.post("/api/orders", json={"order": "a1"})).status_code == 202
        assert (await http.get("/nowhere")).status_code == 404
    found = await edges.scrape()
    ok = (("client", "storefront"), ("route", "POST /api/orders"), ("status", "202"))
    assert found[("artery_http_requests_total", ok)] == 1
    missing = (("client", "anonymous"), ("route", "unmatched"), ("status", "404"))
    assert found[("artery_http_requests_total", missing)] == 1
    assert (
        found[("artery_http_request_duration_seconds_count", (("route", "POST /api/orders"),))] == 1
    )


async def test_destination_attempts_are_counted_by_status(edges: Edges) -> None:
    await edges.app.publish("shop.order", {"order": "d1"})

    async def retried_then_delivered() -> bool:
        return (
            await edges.value(
                "artery_destination_attempts_total", destination="erp-hook", status="200"
            )
            == 1
        )

    await eventually(retried_then_delivered, "a 500 then a 200 at the partner")
    refused = await edges.value(
        "artery_destination_attempts_total", destination="erp-hook", status="500"
    )
    assert refused == 1


async def test_rate_limit_waits_and_breaker_state_are_exported(edges: Edges) -> None:
    for n in range(4):
        await edges.app.publish("shop.order", {"order": "breaks" if n == 0 else f"r{n}"})
    # slow-lane waits for erp's cells (2/s); fragile's breaker opens on its first failure

    async def waited() -> bool:
        return (await edges.value("artery_rate_limit_waits_total", limit="erp") or 0) >= 1

    await eventually(waited, "a wait for the erp rate limit")
    seconds = await edges.value("artery_rate_limit_wait_seconds_total", limit="erp")
    assert seconds is not None and seconds > 0.1

    async def breaker_reported() -> bool:  # the gauges refresh every 5 s
        return await edges.value("artery_breaker_state", breaker="fragile") == 2

    await eventually(breaker_reported, "the fragile breaker open", timeout=12)


async def test_workflow_runs_and_step_durations_are_exported(edges: Edges) -> None:
    handle = await edges.app.start_workflow("fulfil", "o-7")
    assert await handle.result() == "packed o-7"
    found = await edges.scrape()
    assert (
        found[("artery_workflow_runs_total", (("state", "completed"), ("workflow", "fulfil")))] == 1
    )
    step = (("outcome", "ok"), ("step", "pack"), ("workflow", "fulfil"))
    assert found[("artery_workflow_step_duration_seconds_count", step)] == 1
