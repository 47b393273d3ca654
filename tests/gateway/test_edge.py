"""The edge, over real HTTP: correlation ids, the Host and Origin checks, CORS only for
configured exact origins, and header limits; every refusal is problem+json with the
request id."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from edge_helpers import PROBLEM, runtime_on, serving, with_settings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from artery.gateway import health
from artery.gateway.edge import CORS_HEADERS, host_name, request_id_of, traceparent_of
from artery.runtime import Runtime

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
APP_ORIGIN = "https://app.example.com"


class Orders:
    """A route that would accept anything: what a cross-site page must not reach."""

    def __init__(self) -> None:
        self.calls = 0

    def routes(self, runtime: Runtime) -> list[BaseRoute]:
        async def state(request: Request) -> Response:
            found = request.scope["state"]
            return JSONResponse({k: found[k] for k in ("request_id", "traceparent")})

        async def order(request: Request) -> Response:
            self.calls += 1
            await request.body()
            return JSONResponse({"accepted": True})

        return [
            Route("/state", state, methods=["GET"]),
            Route("/orders", order, methods=["POST"]),
            *health.routes(runtime),
        ]


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    async with runtime_on(sqlite_url) as opened:
        yield opened


async def client_for(runtime: Runtime, orders: Orders) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(runtime, orders.routes(runtime)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        yield http


@pytest.fixture
def orders() -> Orders:
    return Orders()


@pytest.fixture
async def http(runtime: Runtime, orders: Orders) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(runtime, orders):
        yield client


@pytest.fixture
async def cors_http(runtime: Runtime, orders: Orders) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(with_settings(runtime, cors_origins=(APP_ORIGIN,)), orders):
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert body["type"] == f"https://artery.dev/problems/{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- correlation ------------------------------------------------------------------------------


async def test_a_sane_request_id_is_kept_and_echoed(http: httpx.AsyncClient) -> None:
    response = await http.get("/state", headers={"X-Request-Id": "order-42.retry_1"})
    assert response.headers["x-request-id"] == "order-42.retry_1"
    assert response.json()["request_id"] == "order-42.retry_1"


@pytest.mark.parametrize("given", ["", "has space", "x" * 201, "tab\there", "é"])
async def test_an_insane_request_id_is_replaced(http: httpx.AsyncClient, given: str) -> None:
    response = await http.get("/state", headers={"X-Request-Id": given.encode("utf-8")})
    echoed = response.headers["x-request-id"]
    assert echoed != given and re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert response.json()["request_id"] == echoed


async def test_a_request_without_an_id_gets_a_new_one_each_time(http: httpx.AsyncClient) -> None:
    first, second = await http.get("/state"), await http.get("/state")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.json()["request_id"] == first.headers["x-request-id"]


async def test_error_answers_carry_the_request_id(http: httpx.AsyncClient) -> None:
    response = await http.get("/nothing", headers={"X-Request-Id": "lost-1"})
    body = assert_problem(response, 404, "artery.not-found")
    assert body["request_id"] == "lost-1" and body["instance"] == "/nothing"


async def test_a_valid_traceparent_continues_its_trace_under_a_new_span(
    http: httpx.AsyncClient,
) -> None:
    given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = await http.get("/state", headers={"traceparent": given})
    hop = response.headers["traceparent"]
    assert response.json()["traceparent"] == hop and TRACEPARENT.match(hop)
    assert hop.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert hop.split("-")[2] != "00f067aa0ba902b7" and hop.endswith("-01")


@pytest.mark.parametrize(
    "given",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "garbage",
    ],
)
async def test_an_invalid_traceparent_starts_a_new_trace(
    http: httpx.AsyncClient, given: str
) -> None:
    response = await http.get("/state", headers={"traceparent": given})
    hop = response.headers["traceparent"]
    assert TRACEPARENT.match(hop) and hop.split("-")[1] not in given.lower()
    assert hop.split("-")[1].strip("0") and hop.split("-")[2].strip("0")


async def test_a_request_without_traceparent_starts_a_trace(http: httpx.AsyncClient) -> None:
    first, second = await http.get("/state"), await http.get("/state")
    assert TRACEPARENT.match(first.headers["traceparent"])
    assert first.headers["traceparent"].split("-")[1] != second.headers["traceparent"].split("-")[1]


def test_correlation_values_are_checked_without_a_server() -> None:
    assert request_id_of("abc") == "abc" and request_id_of(None) != request_id_of(None)
    assert traceparent_of(None).startswith("00-")
    assert host_name("[::1]:8080") == "::1" and host_name("Example.COM:80") == "example.com"
    assert host_name("127.0.0.1") == "127.0.0.1" and host_name("::1") == "::1"


# -- Host ---------------------------------------------------------------------------------------


async def test_an_unknown_host_is_refused_as_dns_rebinding(
    http: httpx.AsyncClient, orders: Orders
) -> None:
    response = await http.post("/orders", json={}, headers={"Host": "attacker.example:8080"})
    assert_problem(response, 400, "artery.host-not-allowed")
    assert orders.calls == 0


async def test_loopback_names_are_allowed_with_any_port(http: httpx.AsyncClient) -> None:
    for host in ("localhost:1234", "127.0.0.1", "[::1]:80", "LOCALHOST"):
        assert (await http.get("/state", headers={"Host": host})).status_code == 200, host


async def test_health_probes_are_exempt_from_the_host_check(http: httpx.AsyncClient) -> None:
    probe = {"Host": "10.1.2.3:8080"}  # a load balancer probes by address
    assert (await http.get("/healthz", headers=probe)).status_code == 200
    assert (await http.get("/readyz", headers=probe)).status_code == 200
    assert (await http.get("/state", headers=probe)).status_code == 400


async def test_configured_hosts_and_the_wildcard(runtime: Runtime, orders: Orders) -> None:
    named = with_settings(runtime, allowed_hosts=("api.example.com",))
    async for http in client_for(named, orders):
        assert (await http.get("/state", headers={"Host": "api.example.com"})).status_code == 200
        assert (await http.get("/state")).status_code == 400  # 127.0.0.1 no longer listed
    anything = with_settings(runtime, allowed_hosts=("*",))
    async for http in client_for(anything, orders):
        assert (await http.get("/state", headers={"Host": "whatever.test"})).status_code == 200


# -- Origin and CORS ----------------------------------------------------------------------------


async def test_a_cross_site_text_plain_post_is_refused(
    http: httpx.AsyncClient, orders: Orders
) -> None:
    response = await http.post(
        "/orders",
        content=b'{"purge": true}',
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    body = assert_problem(response, 403, "artery.origin-not-allowed")
    assert "evil" not in str(body["detail"])
    assert orders.calls == 0
    assert "access-control-allow-origin" not in response.headers


async def test_a_same_origin_request_is_allowed(http: httpx.AsyncClient, orders: Orders) -> None:
    response = await http.post("/orders", json={}, headers={"Origin": str(http.base_url)})
    assert response.status_code == 200 and orders.calls == 1
    assert "access-control-allow-origin" not in response.headers


async def test_cors_is_off_by_default(http: httpx.AsyncClient) -> None:
    preflight = await http.options(
        "/orders",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert_problem(preflight, 403, "artery.origin-not-allowed")
    plain = await http.get("/state")
    assert not any(name.startswith("access-control-") for name in plain.headers)
    assert "vary" not in plain.headers


async def test_a_configured_origin_is_allowed_exactly(
    cors_http: httpx.AsyncClient, orders: Orders
) -> None:
    response = await cors_http.post("/orders", json={}, headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200 and orders.calls == 1
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["vary"] == "Origin"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    assert (await cors_http.get("/state")).headers["vary"] == "Origin"


@pytest.mark.parametrize(
    "lookalike",
    [
        "https://app.example.com.evil.net",
        "https://evil-app.example.com",
        "http://app.example.com",  # another scheme is another origin
        "https://app.example.com:8443",
        "null",
    ],
)
async def test_a_lookalike_origin_is_refused(
    cors_http: httpx.AsyncClient, orders: Orders, lookalike: str
) -> None:
    response = await cors_http.post("/orders", json={}, headers={"Origin": lookalike})
    assert_problem(response, 403, "artery.origin-not-allowed")
    assert "access-control-allow-origin" not in response.headers
    assert orders.calls == 0


async def test_a_preflight_from_a_configured_origin_is_answered(
    cors_http: httpx.AsyncClient, orders: Orders
) -> None:
    response = await cors_http.options(
        "/orders",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == CORS_HEADERS
    assert response.headers["vary"] == "Origin"
    assert response.headers["x-request-id"]
    assert orders.calls == 0


# -- header limits ------------------------------------------------------------------------------


async def test_too_many_headers_is_431(runtime: Runtime, orders: Orders) -> None:
    limited = with_settings(runtime, max_header_count=12, max_header_bytes=2048)
    async for http in client_for(limited, orders):
        assert (await http.get("/state")).status_code == 200
        many = {f"X-Extra-{n}": "1" for n in range(12)}
        body = assert_problem(
            await http.get("/state", headers=many), 431, "artery.headers-too-large"
        )
        assert "12 fields" in str(body["detail"])
        big = {"Cookie": "c=" + "x" * 4096}
        assert_problem(await http.get("/state", headers=big), 431, "artery.headers-too-large")


# -- callers that leave ---------------------------------------------------------------------


async def test_a_caller_leaving_mid_body_is_not_logged_as_a_failure(
    runtime: Runtime, orders: Orders, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(runtime, orders.routes(runtime)) as server:
        assert server.port is not None
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"partial": '
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the route is now waiting for the rest of the body
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.url) as http:  # the server still serves
            assert (await http.get("/state")).status_code == 200
    assert orders.calls == 1
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage() for r in failures]
