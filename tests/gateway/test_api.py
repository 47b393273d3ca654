"""Routes bound to contracts, over real HTTP on SQLite and PostgreSQL: the body validated
(422 with JSON pointers, never quoting a value), the handler's answer, the answer checked
against its contract in development mode, and ingest routes publishing the body as an event
that carries the request's correlation id and trace context."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from routes_harness import serve

from artery import App
from artery.config import Settings
from artery.errors import ConfigError
from artery.gateway.api import Call, Reply

ORDER = {
    "type": "object",
    "required": ["sku", "quantity", "email"],
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
        "quantity": {"type": "integer", "minimum": 1},
        "email": {"type": "string", "x-artery-classification": "pii", "maxLength": 5},
        "note": {"type": "string", "maxLength": 4},
    },
    "additionalProperties": False,
}
ACCEPTED = {
    "type": "object",
    "required": ["order_id", "quantity"],
    "properties": {"order_id": {"type": "string"}, "quantity": {"type": "integer"}},
}
GOOD = {"sku": "ABC-1", "quantity": 2, "email": "a@b.c"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PROBLEM = "application/problem+json"


def declare(store_url: str, *, development: bool = False) -> App:
    app = App("shop", settings=Settings.load(store=store_url, development=development))
    placed = app.contract("shop.order.placed", schema=ORDER, partitions=1)
    app.contract("shop.order.accepted", schema=ACCEPTED, partitions=1)
    app.ingest("/v1/orders/events", placed, scopes=["orders:write"])

    @app.route(
        "POST",
        "/v1/orders",
        request=placed,
        response="shop.order.accepted",
        scopes=["orders:write"],
    )
    async def place_order(call: Call) -> Any:
        """Place an order."""
        if call.body["sku"] == "BAD-1":  # a bug: answers what its contract refuses
            return {"order_id": 7, "quantity": call.body["quantity"]}
        event = await call.publish(placed, call.body)
        return Reply(
            201,
            {"order_id": event.id, "quantity": call.body["quantity"]},
            headers={"Location": f"/v1/orders/{event.id}"},
        )

    @app.route("GET", "/v1/orders/{order_id}", scopes=["orders:read"])
    async def show_order(call: Call) -> Any:
        return {
            "order_id": call.path["order_id"],
            "verbose": call.query.get("verbose"),
            "caller": call.principal.subject if call.principal else None,
            "request_id": call.request_id,
        }

    return app


def assert_child_of_caller(carried: str | None, response: httpx.Response) -> None:
    """The event carries this hop of the caller's trace: the caller's trace id, the span
    the gateway opened for the request (echoed to the caller), not the caller's span."""
    assert carried == response.headers["traceparent"]
    assert carried.startswith(TRACEPARENT[:36]) and carried != TRACEPARENT


async def test_valid_body_reaches_the_handler_and_its_reply_is_the_answer(store_url: str) -> None:
    async with serve(declare(store_url)) as served, served.client() as http:
        response = await http.post("/v1/orders", json=GOOD, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json"
        order_id = response.json()["order_id"]
        assert response.headers["location"] == f"/v1/orders/{order_id}"
        (event,) = await served.app.log.read("shop.order.placed", 0, 0, 10)
        assert event.id == order_id and event.data == GOOD
        assert_child_of_caller(event.traceparent, response)

        shown = await http.get("/v1/orders/o-1?verbose=yes", headers={"X-Request-Id": "r-42"})
        assert shown.status_code == 200
        assert shown.json() == {
            "order_id": "o-1",
            "verbose": "yes",
            "caller": "orders",
            "request_id": "r-42",
        }


async def test_invalid_body_is_422_naming_every_pointer_and_quoting_no_value(
    store_url: str,
) -> None:
    secret_email = "alice.private@example.com"
    body = {"sku": "lowercase-sku", "quantity": 0, "email": secret_email, "extra": "x"}
    async with serve(declare(store_url)) as served, served.client() as http:
        response = await http.post("/v1/orders", json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        text = response.text
        for value in (secret_email, "lowercase-sku"):
            assert value not in text
        problem = response.json()
        assert problem["status"] == 422
        for pointer in ("/sku", "/quantity", "/email"):
            assert pointer in problem["detail"]
        assert "'extra' was unexpected" in problem["detail"]  # a name, not a value
        assert "the value is less than the minimum of 1" in problem["detail"]
        assert await served.app.log.read("shop.order.placed", 0, 0, 10) == []


async def test_body_that_is_not_json_is_400_and_missing_body_is_422(store_url: str) -> None:
    async with serve(declare(store_url)) as served, served.client() as http:
        broken = await http.post(
            "/v1/orders", content=b'{"sku": ', headers={"content-type": "application/json"}
        )
        assert broken.status_code == 400
        assert broken.json()["type"].endswith("artery.malformed-body")
        empty = await http.post("/v1/orders", headers={"content-type": "application/json"})
        assert empty.status_code == 422
        assert "the request has no body" in empty.json()["detail"]


async def test_response_checked_against_its_contract_in_development_mode_only(
    store_url: str,
) -> None:
    bad = {**GOOD, "sku": "BAD-1"}
    async with serve(declare(store_url, development=True)) as served, served.client() as http:
        response = await http.post("/v1/orders", json=bad)
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        detail = response.json()["detail"]
        assert "POST /v1/orders" in detail and "/order_id [type]" in detail
        assert "7" not in detail.replace("v1", "")
    async with serve(declare(store_url)) as served, served.client() as http:
        response = await http.post("/v1/orders", json=bad)
        assert response.status_code == 200
        assert response.json() == {"order_id": 7, "quantity": 2}


async def test_ingest_publishes_the_body_and_answers_202_with_the_event(store_url: str) -> None:
    async with serve(declare(store_url)) as served, served.client() as http:
        response = await http.post(
            "/v1/orders/events",
            json=GOOD,
            headers={"X-Request-Id": "req-7", "traceparent": TRACEPARENT},
        )
        assert response.status_code == 202
        answer = response.json()
        assert answer["topic"] == "shop.order.placed"
        (event,) = await served.app.log.read("shop.order.placed", 0, 0, 10)
        assert event.id == answer["id"]
        assert event.data == GOOD
        assert event.correlationid == "req-7"
        assert_child_of_caller(event.traceparent, response)
        assert event.source == "artery://shop"


async def test_ingest_refuses_an_invalid_body_without_quoting_it(store_url: str) -> None:
    async with serve(declare(store_url)) as served, served.client() as http:
        response = await http.post(
            "/v1/orders/events", json={**GOOD, "note": "private note", "email": "x@private.io"}
        )
        assert response.status_code == 422
        assert "private" not in response.text
        assert "/note" in response.json()["detail"] and "/email" in response.json()["detail"]
        assert await served.app.log.read("shop.order.placed", 0, 0, 10) == []


async def test_credential_without_the_route_scope_never_reaches_the_handler(
    sqlite_url: str,
) -> None:
    async with serve(declare(sqlite_url)) as served, served.client("none") as http:
        assert (await http.post("/v1/orders", json=GOOD)).status_code == 403
        assert await served.app.log.read("shop.order.placed", 0, 0, 10) == []


def test_route_path_and_answer_are_checked_when_declared() -> None:
    app = App("bad")
    with pytest.raises(ConfigError, match="reserved"):
        app.route("GET", "/admin/x")(show)
    with pytest.raises(ConfigError, match="reads no body"):
        app.route("GET", "/v1/y", request="shop.order.placed")(show)
    with pytest.raises(ConfigError, match="declared twice"):
        app.route("GET", "/v1/x")(show)
        app.route("GET", "/v1/x")(show)


async def show(call: Call) -> Any:
    return None
