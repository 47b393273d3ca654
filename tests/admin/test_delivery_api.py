"""The admin API for delivery, over real HTTP: dead letters (list, show, redrive, purge),
consumers, breakers, and problem+json errors; payloads shown only with classified fields
redacted."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from artery import App, DeliveryContext, Event, Integration, Permanent, Retry, WorkerOptions
from artery.admin.delivery import dead_letter_detail
from artery.delivery.breaker import BreakerPolicy, Breakers
from artery.delivery.dead_letters import DeadLetters, Filter
from artery.errors import ConfigError
from artery.gateway.server import HttpServer, Listen
from previous_release import OLD_EVENT, previous_store
from support import admin_client, eventually

ORDER = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "email": {"type": "string", "x-artery-classification": "pii"},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "card": {"type": "string", "x-artery-classification": "secret"},
                },
            },
        },
    },
    "required": ["n"],
}
FAST = {"lease_ttl": 2.0, "poll_interval": 0.02, "commit_interval": 0.02, "retry_poll": 0.03}
EMAIL = "alice@example.com"
CARD = "4111111111111111"
PROBLEM = "application/problem+json"


@dataclass
class Partner:
    """The ERP the consumer posts to: rejects everything until it is fixed."""

    broken: bool = True
    handled: list[int] = field(default_factory=list)


@dataclass
class Running:
    app: App
    partner: Partner
    http: httpx.AsyncClient
    server: HttpServer


def declare(store_url: str, partner: Partner) -> App:
    app = App("admin-test", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    orders = app.contract("orders", schema=ORDER, partitions=2)

    @app.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        if partner.broken:
            raise Permanent("customer unknown to the ERP")
        partner.handled.append(event.data["n"])

    return app


FREE_PORT = Listen("127.0.0.1", 0)


def served(app: App) -> HttpServer:
    assert app.http is not None, "the role serves HTTP"
    return app.http


async def open_dead_letters(app: App, count: int) -> bool:
    return len(await app.dead_letters.list()) == count


@pytest.fixture
async def running(store_url: str) -> AsyncIterator[Running]:
    """An app whose three orders are dead letters, with its admin API on a free port."""
    partner = Partner()
    app = declare(store_url, partner)
    async with app.running("run", listen=FREE_PORT):
        server = served(app)
        for n in range(3):
            await app.publish(
                "orders", {"n": n, "email": EMAIL, "lines": [{"sku": "A", "card": CARD}]}
            )
        await eventually(lambda: open_dead_letters(app, 3), "three dead letters")
        async with await admin_client(app, server.url + "/admin") as http:
            yield Running(app, partner, http, server)


def assert_problem(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if code is not None:
        assert body["type"] == f"https://artery.dev/problems/{code}"
    return body


# -- dead letters over HTTP, on both stores -------------------------------------------------


async def test_listing_dead_letters_shows_summaries_without_payloads(running: Running) -> None:
    response = await running.http.get("/dead-letters", params={"group": "erp"})
    assert response.status_code == 200
    listed = response.json()
    assert len(listed) == 3
    assert {row["type"] for row in listed} == {"orders"}
    assert all(row["last_error"] == "artery.retry.Permanent" for row in listed)
    assert EMAIL not in response.text and "data" not in listed[0]
    other = await running.http.get("/dead-letters", params={"group": "crm", "limit": "2"})
    assert other.json() == []


async def test_showing_a_dead_letter_gives_errors_and_redacted_event(running: Running) -> None:
    first = (await running.http.get("/dead-letters")).json()[0]
    response = await running.http.get(f"/dead-letters/{first['id']}")
    assert response.status_code == 200
    detail = response.json()
    (error,) = detail["errors"]
    assert error["message"] == "customer unknown to the ERP" and error["traceback"]
    assert {"attempt", "type", "at", "duration"} <= set(error)
    data = detail["event"]["data"]
    assert data["email"] == "[redacted]" and data["lines"][0]["card"] == "[redacted]"
    assert data["lines"][0]["sku"] == "A" and isinstance(data["n"], int)
    assert EMAIL not in response.text and CARD not in response.text
    assert sorted(detail["redacted"]) == ["/email", "/lines/0/card"]


async def test_redrive_after_the_fix_delivers_the_event(running: Running) -> None:
    first = (await running.http.get("/dead-letters")).json()[0]
    running.partner.broken = False
    response = await running.http.post("/dead-letters/redrive", json={"ids": [first["id"]]})
    assert response.status_code == 200 and response.json() == {"redriven": 1}
    await eventually(lambda: len(running.partner.handled) == 1, "the redriven event handled")
    assert len((await running.http.get("/dead-letters")).json()) == 2
    everything = await running.http.get("/dead-letters", params={"include_redriven": "true"})
    assert [row["redriven_at"] is not None for row in everything.json()] == [True, False, False]
    depth = (await running.http.get("/dead-letters/depth")).json()
    assert depth == [{"group": "erp", "consumer": "declare.<locals>.post_invoice", "depth": 2}]


async def test_purge_needs_confirmation_then_deletes_the_selection(running: Running) -> None:
    refused = await running.http.post("/dead-letters/purge", json={"group": "erp"})
    body = assert_problem(refused, 400, "artery.config")
    assert "confirm" in body["fix"]
    assert len((await running.http.get("/dead-letters")).json()) == 3
    purged = await running.http.post("/dead-letters/purge", json={"group": "erp", "confirm": True})
    assert purged.json() == {"purged": 3}
    assert (await running.http.get("/dead-letters")).json() == []


async def test_error_type_matches_the_type_exactly_never_the_message(running: Running) -> None:
    async def count(error_type: str) -> int:
        response = await running.http.get("/dead-letters", params={"error_type": error_type})
        assert response.status_code == 200, response.text
        return len(response.json())

    assert await count("Permanent") == 3
    assert await count("artery.retry.Permanent") == 3
    # the message is "customer unknown to the ERP": a word of it is not an error type
    assert await count("ERP") == 0
    assert await count("permanent") == 0 and await count("retry.Permanent") == 0


async def test_error_type_wildcards_cannot_widen_a_purge(running: Running) -> None:
    for pattern in ("%", "_%", "Perm%"):
        purge = {"error_type": pattern, "confirm": True}
        refused = await running.http.post("/dead-letters/purge", json=purge)
        body = assert_problem(refused, 400, "artery.config")
        assert "error type" in body["detail"] and "ValueError" in body["fix"]
        listing = await running.http.get("/dead-letters", params={"error_type": pattern})
        assert_problem(listing, 400, "artery.config")
    assert len((await running.http.get("/dead-letters")).json()) == 3


async def test_consumers_report_lag_retries_and_dead_letters(running: Running) -> None:
    await eventually(lambda: _caught_up(running.app), "offsets committed past the dead letters")
    (consumer,) = (await running.http.get("/consumers")).json()
    assert consumer["group"] == "erp" and consumer["topic"] == "orders"
    assert consumer["name"] == "declare.<locals>.post_invoice"
    assert consumer["lag"] == 0 and consumer["pending_retries"] == 0
    assert [p["partition"] for p in consumer["partitions"]] == [0, 1]
    assert sum(p["next"] for p in consumer["partitions"]) == 3
    assert consumer["dead_letters"] == 3


async def _caught_up(app: App) -> bool:
    return sum((await app.log.lag("erp", "orders")).values()) == 0


# -- dead letters by integration ----------------------------------------------------------


def declare_on_integration(store_url: str, partner: Partner) -> App:
    """The same consumer, declared on the erp-sync integration the app includes."""
    app = App("admin-test", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    erp = Integration("erp-sync", owner="team-finance")
    orders = erp.contract("orders", schema=ORDER, partitions=2)

    @erp.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        if partner.broken:
            raise Permanent("customer unknown to the ERP")
        partner.handled.append(event.data["n"])

    app.include(erp)
    return app


async def test_dead_letters_name_their_integration_and_filter_by_it(store_url: str) -> None:
    partner = Partner()
    app = declare_on_integration(store_url, partner)
    async with app.running("run", listen=FREE_PORT):
        await app.publish("orders", {"n": 1, "email": EMAIL})
        await eventually(lambda: open_dead_letters(app, 1), "a dead letter")
        async with await admin_client(app, served(app).url + "/admin") as http:
            erp = {"integration": "erp-sync"}
            crm = {"integration": "crm-sync"}
            (row,) = (await http.get("/dead-letters", params=erp)).json()
            assert row["integration"] == "erp-sync"
            assert (await http.get(f"/dead-letters/{row['id']}")).json()[
                "integration"
            ] == "erp-sync"
            assert (await http.get("/dead-letters", params=crm)).json() == []
            assert (await http.get("/dead-letters/depth", params=crm)).json() == []
            (depth,) = (await http.get("/dead-letters/depth", params=erp)).json()
            assert depth["group"] == "erp" and depth["depth"] == 1
            redrive = await http.post("/dead-letters/redrive", json=crm)
            assert redrive.json() == {"redriven": 0}
            purge = await http.post("/dead-letters/purge", json={**crm, "confirm": True})
            assert purge.json() == {"purged": 0}
            partner.broken = False
            redrive = await http.post("/dead-letters/redrive", json=erp)
            assert redrive.json() == {"redriven": 1}
            await eventually(lambda: partner.handled == [1], "the redriven event handled")


async def test_dead_letters_buried_before_integrations_list_with_a_null_one(
    sqlite_url: str,
) -> None:
    await previous_store(sqlite_url)
    app = declare(sqlite_url, Partner())
    async with app.running("gateway", listen=FREE_PORT):
        http = await admin_client(app, served(app).url + "/admin")
        async with http:
            (row,) = (await http.get("/dead-letters")).json()
            detail = (await http.get(f"/dead-letters/{row['id']}")).json()
            only = await http.get("/dead-letters", params={"integration": "admin-test"})
    assert row["event_id"] == OLD_EVENT.id and row["integration"] is None
    assert detail["integration"] is None and only.json() == []


# -- breakers and errors (SQLite is enough: nothing here is backend-specific) ---------------


@pytest.fixture
async def idle(sqlite_url: str) -> AsyncIterator[Running]:
    """The app opened without workers, admin API served."""
    partner = Partner()
    app = declare(sqlite_url, partner)
    async with app.running("gateway", listen=FREE_PORT):
        server = served(app)
        async with await admin_client(app, server.url + "/admin") as http:
            yield Running(app, partner, http, server)


async def test_breakers_show_states_persisted_by_workers(idle: Running) -> None:
    breakers = Breakers(idle.app.store, "worker-7")
    breaker = breakers.get("erp", BreakerPolicy(min_calls=1))
    breaker.record_failure()
    await breakers.flush()
    (state,) = (await idle.http.get("/breakers")).json()
    assert state["name"] == "erp" and state["state"] == "open"
    assert state["reported_by"] == "worker-7" and state["failures"] == 1


async def test_unknown_dead_letter_is_a_404_problem(idle: Running) -> None:
    for missing in ("999", "abc"):
        body = assert_problem(await idle.http.get(f"/dead-letters/{missing}"), 404, None)
        assert body["type"] == "https://artery.dev/problems/artery.not-found"
        assert missing in body["detail"] and body["fix"]


async def test_dead_letter_ids_beyond_what_the_store_holds_are_refused(idle: Running) -> None:
    for missing in ("\u00b2", str(2**64), str(2**63)):
        body = assert_problem(await idle.http.get(f"/dead-letters/{missing}"), 404, None)
        assert body["type"] == "https://artery.dev/problems/artery.not-found"
    for ids in ([2**64], [2**63], [-1]):
        response = await idle.http.post("/dead-letters/redrive", json={"ids": ids})
        assert "ids" in assert_problem(response, 400, "artery.config")["detail"]


async def test_malformed_json_body_is_a_400_problem_naming_it(idle: Running) -> None:
    response = await idle.http.post(
        "/dead-letters/redrive", content=b'{"group": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "artery.config")
    assert "not valid JSON" in body["detail"]


async def test_redrive_without_a_selection_is_a_400_problem(idle: Running) -> None:
    body = assert_problem(
        await idle.http.post("/dead-letters/redrive", json={}), 400, "artery.config"
    )
    assert "selection" in body["detail"] and body["fix"]


async def test_unknown_body_field_is_refused_not_ignored(idle: Running) -> None:
    response = await idle.http.post("/dead-letters/redrive", json={"grup": "erp"})
    assert "grup" in assert_problem(response, 400, "artery.config")["detail"]
    response = await idle.http.post("/dead-letters/redrive", json={"integration": 7})
    detail = assert_problem(response, 400, "artery.config")["detail"]
    assert detail == "field integration must be a string"


async def test_bad_query_parameters_are_400_problems(idle: Running) -> None:
    for params in (
        {"limit": "0"},
        {"include_redriven": "maybe"},
        {"type": "orders"},
        {"integrations": "erp-sync"},
    ):
        assert_problem(await idle.http.get("/dead-letters", params=params), 400, "artery.config")


async def test_unknown_route_is_a_404_problem(idle: Running) -> None:
    body = assert_problem(await idle.http.get("/nothing-here"), 404, None)
    assert body["type"] == "about:blank"


async def test_unexpected_error_is_a_500_problem_without_internals(
    idle: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(self: DeadLetters, where: Filter) -> dict[tuple[str, str], int]:
        raise RuntimeError("password=hunter2 at /srv/internal.py")

    monkeypatch.setattr(DeadLetters, "depth", explode)
    response = await idle.http.get("/dead-letters/depth")
    body = assert_problem(response, 500, "artery.internal")
    assert "hunter2" not in response.text and "internal.py" not in response.text
    assert body["fix"]


async def test_a_gateway_answers_until_cancelled(idle: Running) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = declare(idle.app.settings.store, Partner())
    task = asyncio.create_task(gateway.serve("gateway", listen=Listen("127.0.0.1", port)))
    url = f"http://127.0.0.1:{port}/admin/dead-letters/depth"
    async with await admin_client(idle.app, "", timeout=5) as http:

        async def answers() -> bool:
            try:
                return (await http.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, "the admin API to answer")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)


async def test_busy_port_is_a_config_error(idle: Running) -> None:
    second = declare(idle.app.settings.store, Partner())
    with pytest.raises(ConfigError, match=r"cannot serve HTTP on 127\.0\.0\.1"):
        async with second.running("gateway", listen=Listen("127.0.0.1", idle.server.port or 0)):
            pass


# -- redaction follows the topic's contract ---------------------------------------------


async def test_dead_letter_is_redacted_by_its_topics_contract_not_its_claimed_type(
    sqlite_url: str,
) -> None:
    app = declare(sqlite_url, Partner(broken=True))
    app.contract("loose", schema={"type": "object"})  # classifies nothing
    async with app.running():
        await app.publish("orders", {"n": 1, "email": EMAIL})
        await eventually(lambda: open_dead_letters(app, 1), "a dead letter")
        (letter,) = await app.dead_letters.list()
        claimed = dataclasses.replace(letter, event=dataclasses.replace(letter.event, type="loose"))
        detail = await dead_letter_detail(app.log, claimed)
    assert detail["event"]["data"]["email"] == "[redacted]"
    assert EMAIL not in str(detail)


async def test_dead_letter_on_an_unknown_topic_has_all_data_redacted(sqlite_url: str) -> None:
    app = declare(sqlite_url, Partner(broken=True))
    async with app.running():
        await app.publish("orders", {"n": 1, "email": EMAIL})
        await eventually(lambda: open_dead_letters(app, 1), "a dead letter")
        (letter,) = await app.dead_letters.list()
        stray = dataclasses.replace(
            letter, event=dataclasses.replace(letter.event, topic="never.created")
        )
        detail = await dead_letter_detail(app.log, stray)
    assert detail["event"]["data"] == "[redacted]" and detail["redacted"] == [""]


async def test_classified_values_in_a_handlers_error_message_are_scrubbed(
    store_url: str,
) -> None:
    app = App("admin-test", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    orders = app.contract("orders", schema=ORDER, partitions=2)

    @app.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        raise ValueError(f"ERP refused {event.data['email']} paying with {CARD}")

    async with app.running("run", listen=FREE_PORT):
        server = served(app)
        await app.publish("orders", {"n": 1, "email": EMAIL, "lines": [{"card": CARD}]})
        await eventually(lambda: open_dead_letters(app, 1), "a dead letter")
        (letter,) = await app.dead_letters.list()
        async with await admin_client(app, server.url + "/admin") as http:
            response = await http.get(f"/dead-letters/{letter.id}")
    (error,) = response.json()["errors"]
    assert error["message"] == "ERP refused [redacted] paying with [redacted]"
    assert EMAIL not in response.text and CARD not in response.text
