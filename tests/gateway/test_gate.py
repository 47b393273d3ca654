"""The gate over real HTTP: nothing under /admin answers without a credential, scopes
decide what a credential may do, every decision is recorded and can be read back, and
bodies of the wrong kind or size are refused before they are read."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.routing import Mount, Route

from artery import App, Listen
from support import api_key, bearer, eventually

PROBLEM = "application/problem+json"


@pytest.fixture
async def app(store_url: str) -> AsyncIterator[App]:
    app = App("gate-test", store=store_url)
    app.contract("orders", schema={"type": "object"})

    @app.workflow()
    async def noop(ctx: object, data: object) -> None:
        return None

    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        yield app


def admin_routes(app: App) -> list[tuple[str, str]]:
    """Every (method, path) the served app has under /admin, path parameters filled."""
    assert app.http is not None
    found = []
    for mount in app.http.mounts:
        if isinstance(mount, Mount) and mount.path == "/admin":
            for route in mount.routes:
                assert isinstance(route, Route) and route.methods
                path = "/admin" + re.sub(r"\{[^}]+\}", "x", route.path)
                found += [(method, path) for method in route.methods if method != "HEAD"]
    return found


async def test_every_admin_route_refuses_a_caller_without_credentials(app: App) -> None:
    routes = admin_routes(app)
    assert len(routes) >= 14 and ("POST", "/admin/dead-letters/purge") in routes
    assert app.http is not None
    async with httpx.AsyncClient(base_url=app.http.url, timeout=10) as http:
        for method, path in routes:
            response = await http.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.headers["www-authenticate"] == 'Bearer realm="artery"'
            garbage = await http.request(method, path, headers=bearer("ak_not_a_key"))
            assert garbage.status_code == 401, (method, path)
            assert 'error="invalid_token"' in garbage.headers["www-authenticate"]


async def test_scopes_decide_reads_writes_and_destruction(app: App) -> None:
    assert app.http is not None
    reader = bearer(await api_key(app, "admin:read"))
    writer = bearer(await api_key(app, "admin:read", "admin:write"))
    async with httpx.AsyncClient(base_url=app.http.url + "/admin", timeout=10) as http:
        assert (await http.get("/dead-letters", headers=reader)).status_code == 200
        refused = await http.post("/dead-letters/redrive", json={}, headers=reader)
        assert refused.status_code == 403 and refused.json()["status"] == 403
        assert refused.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="admin:write"'
        )
        redrive = await http.post("/dead-letters/redrive", json={"group": "g"}, headers=writer)
        assert redrive.json() == {"redriven": 0}
        purge = {"group": "g", "confirm": True}
        denied = await http.post("/dead-letters/purge", json=purge, headers=writer)
        assert denied.status_code == 403 and "admin:destroy" in denied.json()["detail"]
        destroyer = bearer(await api_key(app, "admin:destroy"))
        assert (await http.post("/dead-letters/purge", json=purge, headers=destroyer)).json() == {
            "purged": 0
        }


async def test_an_api_key_may_come_in_x_api_key_but_not_as_basic_auth(app: App) -> None:
    assert app.http is not None
    key = await api_key(app, "admin:read")
    async with httpx.AsyncClient(base_url=app.http.url + "/admin", timeout=10) as http:
        assert (await http.get("/consumers", headers={"X-API-Key": key})).status_code == 200
        basic = await http.get("/consumers", auth=("user", key))
        assert basic.status_code == 401 and "Bearer" in basic.json()["fix"]
        assert key not in basic.text


async def test_every_decision_is_recorded_and_queryable(app: App) -> None:
    assert app.http is not None
    key = await api_key(app, "admin:read", name="alice")
    prefix = "key:" + key[:11]
    async with httpx.AsyncClient(base_url=app.http.url + "/admin", timeout=10) as http:
        await http.get("/consumers")  # no credential
        await http.get("/consumers", headers=bearer(key))
        await http.post("/dead-letters/redrive", json={}, headers=bearer(key))

        async def recorded() -> bool:  # decisions are written in batches, a moment later
            found = (await http.get("/decisions", headers=bearer(key))).json()["decisions"]
            return len(found) >= 3

        await eventually(recorded, "three decisions recorded")
        listed = (await http.get("/decisions", headers=bearer(key))).json()["decisions"]
        mine = (
            await http.get("/decisions", params={"credential": prefix}, headers=bearer(key))
        ).json()["decisions"]
        refused = (
            await http.get("/decisions", params={"outcome": "refused"}, headers=bearer(key))
        ).json()["decisions"]
    anonymous = [d for d in listed if d["credential"] is None]
    assert anonymous and anonymous[-1]["outcome"] == "refused"
    assert anonymous[-1]["path"] == "/admin/consumers" and anonymous[-1]["subject"] is None
    redrive = next(d for d in mine if d["path"] == "/admin/dead-letters/redrive")
    assert redrive == {
        **redrive,
        "subject": "alice",
        "method": "POST",
        "outcome": "refused",
        "reason": "missing scope admin:write",
        "scopes": ["admin:write"],
    }
    assert any(d["outcome"] == "allowed" and d["path"] == "/admin/consumers" for d in mine)
    assert {d["outcome"] for d in refused} == {"refused"} and len(refused) == 2
    assert all(key not in str(d) for d in listed)


async def test_a_cross_site_text_plain_post_is_refused_and_nothing_happens(app: App) -> None:
    assert app.http is not None
    key = await api_key(app)
    async with httpx.AsyncClient(base_url=app.http.url + "/admin", timeout=10) as http:
        response = await http.post(
            "/workflows/runs",
            content=b'{"workflow": "noop", "input": null}',
            headers={**bearer(key), "content-type": "text/plain"},
        )
        runs = (await http.get("/workflows/runs", headers=bearer(key))).json()
    assert response.status_code == 415, response.text
    assert response.json()["type"].endswith("artery.unsupported-media-type")
    assert runs == []


async def test_an_oversized_body_is_refused_before_it_is_read(app: App) -> None:
    assert app.http is not None
    key = await api_key(app)
    big = b'{"workflow": "noop", "input": "' + b"x" * (2 << 20) + b'"}'
    async with httpx.AsyncClient(base_url=app.http.url + "/admin", timeout=10) as http:
        json_type = {**bearer(key), "content-type": "application/json"}
        declared = await http.post("/workflows/runs", content=big, headers=json_type)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        streamed = await http.post("/workflows/runs", content=chunks(), headers=json_type)
        runs = (await http.get("/workflows/runs", headers=bearer(key))).json()
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["type"].endswith("artery.payload-too-large")
    assert runs == []
