"""``Idempotency-Key`` over real HTTP on SQLite and PostgreSQL: a retried request is answered
once with the same response; the same key on another request is a 422, a retry while the
first is in flight a 409; a failed answer is not kept; racing requests (also through two
gateways sharing one store) run the handler once."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from routes_harness import serve

from artery import App
from artery.config import Settings
from artery.gateway.api import Call, Reply
from support import bearer

ITEM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
}
PROBLEM = "application/problem+json"


@dataclass
class Kitchen:
    """The handler's side: how often it ran, and a gate to hold it in flight."""

    runs: int = 0
    fail_next: bool = False
    hold: asyncio.Event | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def declare(store_url: str, kitchen: Kitchen, ttl: float = 3600.0) -> App:
    app = App("kitchen", settings=Settings.load(store=store_url, idempotency_ttl=ttl))
    item = app.contract("kitchen.item", schema=ITEM, partitions=1)
    app.ingest("/v1/items/events", item, scopes=["orders:write"])

    @app.route("POST", "/v1/items", request="kitchen.item", scopes=["orders:write"])
    async def create_item(call: Call) -> Any:
        kitchen.runs += 1
        if kitchen.hold is not None:
            await kitchen.hold.wait()
        if kitchen.fail_next:
            kitchen.fail_next = False
            raise RuntimeError("the oven is cold")
        number = next(kitchen.ids)
        return Reply(
            201,
            {"id": number, "name": call.body["name"]},
            headers={"Location": f"/v1/items/{number}"},
        )

    return app


async def test_retry_with_the_same_key_gets_the_first_answer_again(store_url: str) -> None:
    kitchen = Kitchen()
    async with serve(declare(store_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
        first = await http.post("/v1/items", json={"name": "soup"}, headers=key)
        again = await http.post("/v1/items", json={"name": "soup"}, headers=key)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json() == {"id": 1, "name": "soup"}
        assert again.headers["location"] == "/v1/items/1"
        assert again.headers["content-type"] == "application/json"
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert kitchen.runs == 1
        unkeyed = await http.post("/v1/items", json={"name": "soup"})
        assert unkeyed.json()["id"] == 2  # no key: every request is new


async def test_same_key_with_another_body_is_a_422_problem(store_url: str) -> None:
    kitchen = Kitchen()
    async with serve(declare(store_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": "k-1"}
        assert (await http.post("/v1/items", json={"name": "soup"}, headers=key)).is_success
        other = await http.post("/v1/items", json={"name": "cake"}, headers=key)
        assert other.status_code == 422
        assert other.headers["content-type"] == PROBLEM
        assert other.json()["type"].endswith("artery.idempotency-key-reused")
        assert "cake" not in other.text
        assert kitchen.runs == 1


async def test_same_key_from_another_client_is_another_request(store_url: str) -> None:
    kitchen = Kitchen()
    async with (
        serve(declare(store_url, kitchen)) as served,
        served.client("orders") as mine,
        served.client("other") as theirs,
    ):
        key = {"Idempotency-Key": "shared"}
        a = await mine.post("/v1/items", json={"name": "soup"}, headers=key)
        b = await theirs.post("/v1/items", json={"name": "soup"}, headers=key)
        assert (a.json()["id"], b.json()["id"]) == (1, 2)


async def test_retry_while_the_first_is_in_flight_is_a_409_then_the_answer(
    store_url: str,
) -> None:
    kitchen = Kitchen(hold=asyncio.Event())
    async with serve(declare(store_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": "slow"}
        first = asyncio.create_task(http.post("/v1/items", json={"name": "stew"}, headers=key))
        while kitchen.runs == 0:
            await asyncio.sleep(0.01)
        busy = await http.post("/v1/items", json={"name": "stew"}, headers=key)
        assert busy.status_code == 409
        assert busy.headers["content-type"] == PROBLEM
        assert busy.json()["type"].endswith("artery.idempotency-in-flight")
        assert kitchen.hold is not None
        kitchen.hold.set()
        assert (await first).status_code == 201
        later = await http.post("/v1/items", json={"name": "stew"}, headers=key)
        assert later.status_code == 201 and later.headers["idempotent-replayed"] == "true"
        assert kitchen.runs == 1
        assert busy.headers["retry-after"] == "1"


async def test_a_failed_answer_is_not_kept_so_the_key_can_be_retried(store_url: str) -> None:
    kitchen = Kitchen(fail_next=True)
    async with serve(declare(store_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": "flaky"}
        failed = await http.post("/v1/items", json={"name": "pie"}, headers=key)
        assert failed.status_code == 500
        retried = await http.post("/v1/items", json={"name": "pie"}, headers=key)
        assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
        assert kitchen.runs == 2


async def test_a_refused_body_is_kept_like_any_answer(sqlite_url: str) -> None:
    kitchen = Kitchen()
    async with serve(declare(sqlite_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": "bad-body"}
        first = await http.post("/v1/items", json={"name": 5}, headers=key)
        again = await http.post("/v1/items", json={"name": 5}, headers=key)
        assert first.status_code == again.status_code == 422
        replayed, original = again.json(), first.json()
        # the same problem, told with the correlation id of the request that asked again
        assert replayed.pop("request_id") == again.headers["x-request-id"]
        assert original.pop("request_id") == first.headers["x-request-id"]
        assert replayed == original
        assert again.headers["content-type"] == PROBLEM


async def test_racing_requests_with_one_key_run_the_handler_once(store_url: str) -> None:
    kitchen = Kitchen(hold=asyncio.Event())
    async with serve(declare(store_url, kitchen)) as served, served.client() as http:
        key = {"Idempotency-Key": "race"}
        racing = [
            asyncio.create_task(http.post("/v1/items", json={"name": "tea"}, headers=key))
            for _ in range(12)
        ]
        while sum(t.done() for t in racing) < 11:
            await asyncio.sleep(0.01)
        assert kitchen.hold is not None
        kitchen.hold.set()
        statuses = sorted(r.status_code for r in await asyncio.gather(*racing))
        assert statuses == [201] + [409] * 11
        assert kitchen.runs == 1


async def test_two_gateways_sharing_the_store_answer_a_key_once(pg_url: str) -> None:
    kitchen = Kitchen(hold=asyncio.Event())
    async with (
        serve(declare(pg_url, kitchen)) as one,
        serve(declare(pg_url, kitchen)) as two,
        one.client() as a,
        httpx.AsyncClient(base_url=two.url, headers=bearer(one.keys["orders"])) as b,
    ):
        key = {"Idempotency-Key": "across"}
        racing = [
            asyncio.create_task(http.post("/v1/items", json={"name": "jam"}, headers=key))
            for http in (a, b, a, b, a, b)
        ]
        while sum(t.done() for t in racing) < 5:
            await asyncio.sleep(0.01)
        assert kitchen.hold is not None
        kitchen.hold.set()
        statuses = sorted(r.status_code for r in await asyncio.gather(*racing))
        assert statuses == [201] + [409] * 5
        replay = await b.post("/v1/items", json={"name": "jam"}, headers=key)
        assert replay.headers["idempotent-replayed"] == "true"
        assert kitchen.runs == 1


async def test_an_answer_expires_after_the_ttl(sqlite_url: str) -> None:
    kitchen = Kitchen()
    async with serve(declare(sqlite_url, kitchen, ttl=0.3)) as served, served.client() as http:
        key = {"Idempotency-Key": "brief"}
        await http.post("/v1/items", json={"name": "ice"}, headers=key)
        await asyncio.sleep(0.4)
        later = await http.post("/v1/items", json={"name": "ice"}, headers=key)
        assert later.json()["id"] == 2 and kitchen.runs == 2


async def test_an_ingest_retried_after_its_answer_was_lost_is_stored_once(
    store_url: str,
) -> None:
    async with serve(declare(store_url, Kitchen())) as served, served.client() as http:
        key = {"Idempotency-Key": "ingest-1"}
        first = await http.post("/v1/items/events", json={"name": "salt"}, headers=key)
        assert first.status_code == 202
        await served.app.store.write(lambda tx: tx.execute("DELETE FROM idempotent_requests"))
        again = await http.post("/v1/items/events", json={"name": "salt"}, headers=key)
        assert again.status_code == 202 and "idempotent-replayed" not in again.headers
        assert again.json()["id"] == first.json()["id"]
        assert len(await served.app.log.read("kitchen.item", 0, 0, 10)) == 1


@pytest.mark.parametrize("header", ["", '""', "x" * 256, "caf\u00e9"])
async def test_a_malformed_key_is_a_400(sqlite_url: str, header: str) -> None:
    kitchen = Kitchen()
    async with serve(declare(sqlite_url, kitchen)) as served, served.client() as http:
        response = await http.post(
            "/v1/items",
            json={"name": "x"},
            headers=[("Idempotency-Key", header.encode())],
        )
        assert response.status_code == 400
        assert response.json()["type"].endswith("artery.bad-idempotency-key")
        assert kitchen.runs == 0
