"""The HTTP face's router finds a path without parameters by lookup, and still answers as
Starlette's ordered matching would: an earlier route that matches wins, a method the path
does not serve is a 405, an unknown path a 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from artery.config import Settings
from artery.gateway import http_app


def answering(text: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(text)

    return endpoint


ROUTES = [
    Route("/{name}/items", answering("by parameter"), methods=["GET"]),
    Mount("/admin", routes=[Route("/status", answering("admin mount"), methods=["GET"])]),
    Route("/admin/status", answering("shadowed by the mount"), methods=["GET"]),
    Route("/static/items", answering("shadowed by the parameter"), methods=["GET"]),
    Route("/orders", answering("orders read"), methods=["GET"]),
    Route("/orders", answering("orders written"), methods=["POST"]),
]


async def get(method: str, path: str) -> httpx.Response:
    app = http_app(ROUTES, Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return await http.request(method, path)


def test_only_unshadowed_paths_are_indexed() -> None:
    app = http_app(ROUTES, Settings())
    assert sorted(app.router.static) == ["/orders"]


async def test_an_earlier_match_still_wins() -> None:
    assert (await get("GET", "/admin/status")).text == "admin mount"
    assert (await get("GET", "/static/items")).text == "by parameter"


async def test_each_method_reaches_its_own_route() -> None:
    assert (await get("GET", "/orders")).text == "orders read"
    assert (await get("HEAD", "/orders")).status_code == 200
    assert (await get("POST", "/orders")).text == "orders written"


async def test_other_methods_and_paths_are_405_and_404_problems() -> None:
    refused = await get("DELETE", "/orders")
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert "GET" in refused.headers["allow"]  # Starlette names the first route's methods
    missing = await get("GET", "/nowhere")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("artery.not-found")
