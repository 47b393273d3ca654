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

from artery.admin.strangler import InvalidSplit, parse_split
from artery.config import Settings
from artery.gateway.policy import Policy
from artery.gateway.route import ApiRoute, Split
from artery.gateway.server import HttpServer, Listen
from artery.gateway.strangler import POLL, Forwarder, goes_to_handler
from artery.runtime import Runtime, open_runtime

# -- a legacy system that records what it received -------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]


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


async def test_upstream_answer_comes_back_without_hop_by_hop_cookie_or_cors_headers(
    runtime: Runtime, legacy: Legacy
) -> None:
    async with forwarding(runtime, orders_route(legacy.url)) as (_, url):
        answer = await post(url, json={})
    assert answer.headers["x-legacy"] == "yes"
    assert answer.headers["content-type"] == "application/json"
    for header in ("set-cookie", "access-control-allow-origin", "x-hop"):
        assert header not in answer.headers


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


async def test_a_split_changed_in_one_process_reaches_another_sharing_the_store(
    store_url: str, runtime: Runtime, legacy: Legacy
) -> None:
    route = orders_route(legacy.url, Split(0))
    async with (
        open_runtime(Settings(store=store_url)) as other_runtime,
        forwarding(runtime, route) as (here, _),
        forwarding(other_runtime, route) as (_, there_url),
    ):
        assert (await post(there_url, json={})).json() == {"from": "legacy"}
        await here.set_split(route.key, Split(100), "ops")
        await asyncio.sleep(POLL * 1.5)
        answer = await post(there_url, json={})
    assert answer.json() == {"from": "handler"}


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
