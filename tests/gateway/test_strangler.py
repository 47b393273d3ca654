"""Strangler routing: a forwarded route sends each request to the legacy upstream or to its
new handler, by the split in force, and records every call.

The legacy system is a real HTTP server on 127.0.0.1 that records what it received; the
forwarder serves its routes over real HTTP too, on a real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from artery import App
from artery.admin.strangler import InvalidSplit, parse_split
from artery.config import Settings
from artery.gateway.api import Reply
from artery.gateway.policy import Policy
from artery.gateway.route import ApiRoute, Split
from artery.gateway.server import HttpServer, Listen
from artery.gateway.strangler import POLL, Forwarder, goes_to_handler
from artery.runtime import Runtime, open_runtime
from support import api_key, bearer

# -- a legacy system that records what it received -------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    raw_path: bytes


@dataclass
class Legacy:
    server: HttpServer
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0

    @property
    def url(self) -> str:
        return self.server.url


def legacy_routes(legacy: Legacy) -> list[BaseRoute]:
    async def answer(request: Request) -> Response:
        legacy.received.append(
            Received(
                request.method,
                request.url.path,
                request.url.query,
                await request.body(),
                dict(request.headers),
                request.scope["raw_path"],
            )
        )
        if legacy.delay:
            await asyncio.sleep(legacy.delay)
        return JSONResponse(
            {"from": "legacy"},
            status_code=201,
            headers={
                "X-Legacy": "yes",
                "Set-Cookie": "session=legacy",
                "Access-Control-Allow-Origin": "*",
                "Connection": "X-Hop",
                "X-Hop": "per-connection",
                "RateLimit": '"legacy";r=0;t=60',
            },
        )

    return [Route("/{path:path}", answer, methods=["GET", "POST", "PUT", "DELETE"])]


@contextlib.asynccontextmanager
async def served(runtime: Runtime, routes: Sequence[BaseRoute]) -> AsyncIterator[HttpServer]:
    server = HttpServer(Listen("127.0.0.1", 0), routes)
    await server.start(runtime)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def runtime(store_url: str) -> AsyncIterator[Runtime]:
    async with open_runtime(Settings(store=store_url)) as opened:
        yield opened


@pytest.fixture
async def legacy(runtime: Runtime) -> AsyncIterator[Legacy]:
    holder = Legacy(server=HttpServer(Listen("127.0.0.1", 0), []))
    async with served(runtime, legacy_routes(holder)) as server:
        holder.server = server
        yield holder


async def new_handler(request: Request) -> Response:
    return JSONResponse({"from": "handler"}, status_code=202)


def orders_route(upstream: str, split: Split | None = None, timeout: float = 30.0) -> ApiRoute:
    return ApiRoute(
        "POST",
        "/v1/orders",
        "create_order",
        Policy(scopes=("orders:write",), timeout=timeout),
        handler=new_handler,
        upstream=upstream,
        split=split or Split(),
    )


@contextlib.asynccontextmanager
async def forwarding(runtime: Runtime, route: ApiRoute) -> AsyncIterator[tuple[Forwarder, str]]:
    """A started forwarder serving ``route`` over HTTP; yields it and the route's URL."""
    forwarder = Forwarder([route])
    await forwarder.start(runtime)
    try:
        endpoint = forwarder.endpoint(route, new_handler)
        async with served(runtime, [Route(route.path, endpoint, methods=[route.method])]) as web:
            yield forwarder, web.url + route.path
    finally:
        await forwarder.stop()


async def post(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, **kwargs)


# -- which side answers ------------------------------------------------------------------


async def test_at_zero_percent_the_upstream_gets_method_path_query_body_and_request_id(
    runtime: Runtime, legacy: Legacy
) -> None:
    async with forwarding(runtime, orders_route(legacy.url)) as (_, url):
        answer = await post(
            url + "?source=web&page=2",
            json={"order": 1},
            headers={
                "X-Request-Id": "req-1",
                "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            },
        )
    assert answer.status_code == 201
    assert answer.json() == {"from": "legacy"}
    [seen] = legacy.received
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1/orders", "source=web&page=2")
    assert seen.body == b'{"order":1}'
    assert seen.headers["x-request-id"] == "req-1"
    assert seen.headers["traceparent"].startswith("00-" + "a" * 32)
    assert seen.headers["content-type"] == "application/json"


async def test_the_callers_credentials_are_not_forwarded_to_the_upstream(
    runtime: Runtime, legacy: Legacy
) -> None:
    async with forwarding(runtime, orders_route(legacy.url)) as (_, url):
        await post(
            url,
            json={},
            headers={
                "Authorization": "Bearer ak_secret",
                "X-API-Key": "ak_other",
                "Cookie": "gateway-session=1",
                "Proxy-Authorization": "Basic eA==",
            },
        )
    [seen] = legacy.received
    for header in ("authorization", "x-api-key", "cookie", "proxy-authorization"):
        assert header not in seen.headers
    assert "ak_secret" not in str(seen.headers)
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert seen.headers["x-forwarded-host"] == url.split("/")[2]


async def test_upstream_answer_comes_back_without_hop_by_hop_cookie_cors_or_limit_headers(
    runtime: Runtime, legacy: Legacy
) -> None:
    async with forwarding(runtime, orders_route(legacy.url)) as (_, url):
        answer = await post(url, json={})
    assert answer.headers["x-legacy"] == "yes"
    assert answer.headers["content-type"] == "application/json"
    for header in ("set-cookie", "access-control-allow-origin", "x-hop"):
        assert header not in answer.headers
    assert "ratelimit" not in answer.headers  # the gate adds the gateway's own, only


async def test_at_hundred_percent_the_new_handler_answers_and_the_upstream_sees_nothing(
    runtime: Runtime, legacy: Legacy
) -> None:
    async with forwarding(runtime, orders_route(legacy.url, Split(100))) as (_, url):
        answers = [await post(url, json={"n": n}) for n in range(5)]
    assert [a.json() for a in answers] == [{"from": "handler"}] * 5
    assert [a.status_code for a in answers] == [202] * 5
    assert legacy.received == []


async def test_the_split_header_sends_a_request_to_the_handler_even_at_zero_percent(
    runtime: Runtime, legacy: Legacy
) -> None:
    route = orders_route(legacy.url, Split(0, header="X-New-Orders"))
    async with forwarding(runtime, route) as (_, url):
        chosen = await post(url, json={}, headers={"X-New-Orders": "1"})
        other = await post(url, json={})
    assert chosen.json() == {"from": "handler"}
    assert other.json() == {"from": "legacy"}
    assert len(legacy.received) == 1


async def test_the_path_reaches_the_upstream_as_the_caller_encoded_it(
    runtime: Runtime, legacy: Legacy
) -> None:
    route = ApiRoute(
        "GET",
        "/v1/files/{name}",
        "file",
        Policy(scopes=("files:read",)),
        upstream=legacy.url + "/legacy",
    )
    forwarder = Forwarder([route])
    await forwarder.start(runtime)
    try:
        endpoint = forwarder.endpoint(route, None)
        async with (
            served(runtime, [Route(route.path, endpoint, methods=["GET"])]) as web,
            httpx.AsyncClient() as http,
        ):
            answer = await http.get(web.url + "/v1/files/a%3Bb%20c?x=%26")
    finally:
        await forwarder.stop()
    assert answer.status_code == 201
    [seen] = legacy.received
    assert seen.raw_path == b"/legacy/v1/files/a%3Bb%20c"
    assert seen.query == "x=%26"


def test_a_percentage_split_is_stable_per_request_id_and_close_to_its_share() -> None:
    request = Request({"type": "http", "headers": [], "method": "POST", "path": "/"})
    split = Split(30)
    sides = [goes_to_handler(split, request, f"req-{n}") for n in range(2000)]
    assert 0.25 < sum(sides) / len(sides) < 0.35
    assert sides == [goes_to_handler(split, request, f"req-{n}") for n in range(2000)]
    assert not goes_to_handler(Split(0), request, "req-1")
    assert goes_to_handler(Split(100), request, "req-1")


# -- failures of the upstream ------------------------------------------------------------


async def test_an_upstream_that_is_down_is_a_502_problem(runtime: Runtime) -> None:
    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with forwarding(runtime, orders_route(f"http://127.0.0.1:{port}")) as (_, url):
            answer = await post(url, json={})
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("artery.bad-gateway")
    assert "could not be reached" in problem["detail"]


async def test_an_upstream_slower_than_the_route_timeout_is_a_504_problem_not_a_hang(
    runtime: Runtime, legacy: Legacy
) -> None:
    legacy.delay = 5.0
    route = orders_route(legacy.url, timeout=1.0)
    async with forwarding(runtime, route) as (forwarder, url):
        started = asyncio.get_running_loop().time()
        answer = await post(url, json={})
        waited = asyncio.get_running_loop().time() - started
        await forwarder.flush()
        [call] = await forwarder.calls(10)
    assert answer.status_code == 504
    assert answer.json()["type"].endswith("artery.timeout")
    assert waited < 2.0
    assert (call.target, call.status) == ("upstream", 504)


async def test_upstream_user_information_never_appears_in_an_error(runtime: Runtime) -> None:
    route = orders_route("http://legacy-user:hunter2@127.0.0.1:9")
    async with forwarding(runtime, route) as (_, url):
        answer = await post(url, json={})
    assert answer.status_code == 502
    assert "hunter2" not in answer.text


# -- run-time splits and the record of calls ---------------------------------------------


async def test_a_stored_split_overrides_the_declared_one_and_reset_restores_it(
    runtime: Runtime, legacy: Legacy
) -> None:
    route = orders_route(legacy.url, Split(0))
    async with forwarding(runtime, route) as (forwarder, url):
        await forwarder.set_split(route.key, Split(100), "ops (key:ak_ops)")
        moved = await post(url, json={})
        assert forwarder.stored[route.key].changed_by == "ops (key:ak_ops)"
        await forwarder.set_split(route.key, None, "ops (key:ak_ops)")
        back = await post(url, json={})
    assert moved.json() == {"from": "handler"}
    assert back.json() == {"from": "legacy"}


async def test_every_call_is_recorded_with_its_side_status_and_duration(
    runtime: Runtime, legacy: Legacy
) -> None:
    route = orders_route(legacy.url, Split(0, header="X-New"))
    async with forwarding(runtime, route) as (_, url):
        await post(url + "?secret=1", json={}, headers={"X-Request-Id": "r-up"})
        await post(url, json={}, headers={"X-Request-Id": "r-new", "X-New": "1"})
    # stop() flushed the buffer; the calls are read back through a fresh forwarder
    reader = Forwarder([route])
    await reader.start(runtime)
    try:
        calls = await reader.calls(10)
        only_route = await reader.calls(1, route=route.key)
    finally:
        await reader.stop()
    assert [(c.target, c.status) for c in calls] == [("handler", 202), ("upstream", 201)]
    assert all(c.route == "POST /v1/orders" and c.path == "/v1/orders" for c in calls)
    assert all(c.duration_us > 0 for c in calls)
    assert len(only_route) == 1


# -- the admin API's body ----------------------------------------------------------------


def test_a_valid_split_body_is_parsed() -> None:
    assert parse_split(b'{"percent": 30, "header": "X-New"}') == Split(30, "X-New")
    assert parse_split(b'{"percent": 0, "header": null}') == Split(0)


@pytest.mark.parametrize(
    "body, pointer",
    [
        (b"not json", ""),
        (b"[1]", ""),
        (b"{}", ""),
        (b'{"percent": 101}', "/percent"),
        (b'{"percent": "30"}', "/percent"),
        (b'{"percent": true}', "/percent"),
        (b'{"percent": 5, "header": "bad header"}', "/header"),
        (b'{"percent": 5, "weight": 1}', "/weight"),
    ],
)
def test_a_bad_split_body_names_what_is_wrong(body: bytes, pointer: str) -> None:
    with pytest.raises(InvalidSplit) as caught:
        parse_split(body)
    assert pointer in [v.pointer for v in caught.value.violations]
    assert caught.value.http_status == 422


# -- through the front door: the gate, API keys and the admin API ------------------------


@contextlib.asynccontextmanager
async def front_door(app: App) -> AsyncIterator[tuple[str, Forwarder]]:
    """``app`` served as ``artery gateway`` serves it; yields the base URL and the
    forwarder (to flush its recorded calls)."""
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        forwarders = [s for s in app.services if isinstance(s, Forwarder)]
        yield app.http.url, forwarders[0]


def strangled_app(store_url: str, upstream: str, split: Split | None = None) -> App:
    app = App("strangler-test", store=store_url)

    @app.route("POST", "/v1/orders", scopes=["orders:write"], upstream=upstream, split=split)
    async def create_order(call: object) -> Reply:
        return Reply(202, {"from": "handler"})

    app.forward("GET", "/v1/legacy-only", upstream, scopes=["orders:write"])
    app.forward("POST", "/v1/legacy-form", upstream, scopes=["orders:write"])
    return app


async def test_a_forwarded_route_relays_a_form_body_the_legacy_system_expects(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url)
    async with front_door(app) as (base, _):
        caller = bearer(await api_key(app, "orders:write"))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            answer = await http.post("/v1/legacy-form", data={"sku": "A-1"}, headers=caller)
    assert answer.status_code == 201
    [seen] = legacy.received
    assert seen.body == b"sku=A-1"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_a_split_changed_through_the_admin_api_applies_without_restart(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url, Split(0))
    async with front_door(app) as (base, _):
        caller = bearer(await api_key(app, "orders:write", name="shop"))
        writer = bearer(await api_key(app, "admin:read", "admin:write", name="ops"))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            before = await http.post("/v1/orders", json={}, headers=caller)
            put = await http.put(
                "/admin/splits/POST/v1/orders",
                json={"percent": 100, "header": None},
                headers=writer,
            )
            after = await http.post("/v1/orders", json={}, headers=caller)
            listed = (await http.get("/admin/splits", headers=writer)).json()["splits"]
            reset = await http.delete("/admin/splits/POST/v1/orders", headers=writer)
            again = await http.post("/v1/orders", json={}, headers=caller)
    assert before.json() == {"from": "legacy"}
    assert put.status_code == 200 and put.json()["percent"] == 100
    assert after.json() == {"from": "handler"}
    [orders] = [s for s in listed if s["route"] == "POST /v1/orders"]
    assert orders["source"] == "stored" and orders["handler"] is True
    assert orders["changed_by"].startswith("ops (key:ak_")
    assert orders["declared"] == {"percent": 0, "header": None}
    assert reset.json()["source"] == "declared"
    assert again.json() == {"from": "legacy"}


async def test_a_split_changed_on_one_gateway_reaches_another_sharing_the_store(
    store_url: str, legacy: Legacy
) -> None:
    first = strangled_app(store_url, legacy.url, Split(0))
    second = strangled_app(store_url, legacy.url, Split(0))
    async with (
        front_door(first) as (one, _),
        front_door(second) as (
            two,
            _,
        ),
    ):
        caller = bearer(await api_key(first, "orders:write"))
        writer = bearer(await api_key(first, "admin:write"))
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.post(two + "/v1/orders", json={}, headers=caller)).json() == {
                "from": "legacy"
            }
            changed = await http.put(
                one + "/admin/splits/POST/v1/orders", json={"percent": 100}, headers=writer
            )
            assert changed.status_code == 200
            await asyncio.sleep(POLL * 1.5)
            answer = await http.post(two + "/v1/orders", json={}, headers=caller)
    assert answer.json() == {"from": "handler"}


async def test_the_upstream_learns_who_called_but_never_sees_their_key(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url)
    async with front_door(app) as (base, _):
        key = await api_key(app, "orders:write", name="shop")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            await http.post("/v1/orders", json={"n": 1}, headers=bearer(key))
            await http.get("/v1/legacy-only", headers={"X-API-Key": key})
    assert len(legacy.received) == 2
    for seen in legacy.received:
        assert key not in str(seen.headers)
        assert seen.headers["x-artery-client"].startswith("key:ak_")
        assert seen.headers["x-artery-client"][len("key:") :] in key


async def test_forwarded_calls_are_listed_newest_first_with_side_status_and_client(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url, Split(0, header="X-New"))
    async with front_door(app) as (base, forwarder):
        caller = bearer(await api_key(app, "orders:write"))
        reader = bearer(await api_key(app, "admin:read"))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            await http.post("/v1/orders", json={}, headers=caller)
            await http.post("/v1/orders", json={}, headers={**caller, "X-New": "yes"})
            await http.get("/v1/legacy-only?token=abc", headers=caller)
            await forwarder.flush()
            listed = (await http.get("/admin/forwarded", headers=reader)).json()["calls"]
            two = (await http.get("/admin/forwarded?limit=2", headers=reader)).json()["calls"]
            one_route = await http.get(
                "/admin/forwarded", params={"route": "POST /v1/orders"}, headers=reader
            )
            bad_limit = await http.get("/admin/forwarded?limit=0", headers=reader)
    assert [(c["route"], c["target"], c["status"]) for c in listed] == [
        ("GET /v1/legacy-only", "upstream", 201),
        ("POST /v1/orders", "handler", 202),
        ("POST /v1/orders", "upstream", 201),
    ]
    assert listed[0]["path"] == "/v1/legacy-only"  # the query is not kept
    assert all(c["client"].startswith("key:ak_") for c in listed)
    assert all(c["duration_ms"] > 0 for c in listed)
    assert len(two) == 2
    assert len(one_route.json()["calls"]) == 2
    assert bad_limit.status_code == 400


async def test_a_bad_split_body_is_a_422_problem_naming_the_field(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url)
    async with front_door(app) as (base, _):
        writer = bearer(await api_key(app, "admin:write"))
        async with httpx.AsyncClient(base_url=base + "/admin/splits", timeout=10) as http:
            wrong = await http.put("/POST/v1/orders", json={"percent": 150}, headers=writer)
            unknown = await http.put("/POST/v1/nothing", json={"percent": 5}, headers=writer)
            no_handler = await http.put("/GET/v1/legacy-only", json={"percent": 5}, headers=writer)
            as_text = await http.put(
                "/POST/v1/orders",
                content=b"percent=5",
                headers={**writer, "Content-Type": "text/plain"},
            )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["type"].endswith("artery.invalid-split")
    assert "/percent" in wrong.json()["detail"]
    assert unknown.status_code == 404
    assert no_handler.status_code == 409
    assert as_text.status_code == 415


async def test_reading_splits_needs_admin_read_and_changing_them_admin_write(
    store_url: str, legacy: Legacy
) -> None:
    app = strangled_app(store_url, legacy.url)
    async with front_door(app) as (base, _):
        reader = bearer(await api_key(app, "admin:read"))
        async with httpx.AsyncClient(base_url=base + "/admin", timeout=10) as http:
            anonymous = await http.get("/splits")
            read = await http.get("/splits", headers=reader)
            write = await http.put("/splits/POST/v1/orders", json={"percent": 5}, headers=reader)
    assert anonymous.status_code == 401
    assert read.status_code == 200
    assert write.status_code == 403
