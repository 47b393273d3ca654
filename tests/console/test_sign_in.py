"""Signing in: an API key holding console:read is exchanged for a session cookie that is
HttpOnly and SameSite=Strict; every other page needs that session, every form its CSRF
token, and each decision is recorded."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from console_harness import READ, csrf_of, serving


async def test_a_page_without_a_session_sends_the_browser_to_sign_in(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, httpx.AsyncClient(base_url=console.url) as web:
        answer = await web.get("/console/catalog")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in?next=/console/catalog"


async def test_a_key_is_exchanged_for_a_strict_http_only_cookie(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, httpx.AsyncClient(base_url=console.url) as web:
        key = await console.key(*READ)
        answer = await web.post("/console/sign-in", data={"key": key, "next": "/console/health"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/health"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert key not in answer.headers["set-cookie"]
        page = await web.get("/console/catalog")
        assert page.status_code == 200
        assert "Signed in as" in page.text and "ops" in page.text


async def test_a_wrong_key_or_one_without_the_console_scope_is_refused(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, httpx.AsyncClient(base_url=console.url) as web:
        wrong = await web.post("/console/sign-in", data={"key": "ak_00000000_" + "x" * 43})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        admin_only = await web.post(
            "/console/sign-in", data={"key": await console.key("admin:read")}
        )
        assert admin_only.status_code == 401 and "console:read" in admin_only.text
        assert "set-cookie" not in admin_only.headers


async def test_a_form_without_its_csrf_token_is_refused(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in() as web:
        refused = await web.post("/console/sign-out", data={})
        assert refused.status_code == 403 and "CSRF" in refused.text
        forged = await web.post("/console/sign-out", data={"csrf": "x" * 43})
        assert forged.status_code == 403
        page = await web.get("/console/catalog")
        assert page.status_code == 200  # still signed in
        out = await web.post("/console/sign-out", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        again = await web.get("/console/catalog")
        assert again.status_code == 303  # the session is gone


async def test_revoking_the_key_ends_its_sessions(sqlite_url: str) -> None:
    from artery.gateway.auth.keys import ApiKeys
    from support import eventually

    async with serving(sqlite_url) as console, console.signed_in(*READ, name="leaver") as web:
        assert (await web.get("/console/catalog")).status_code == 200
        keys = ApiKeys(console.app.store)
        (found,) = [k for k in await keys.listed() if k.name == "leaver"]
        await keys.revoke(found.prefix)

        async def signed_out() -> bool:
            return (await web.get("/console/catalog")).status_code == 303

        await eventually(signed_out, "the session to end with its key")


async def test_a_session_ends_when_its_time_is_up(sqlite_url: str) -> None:
    import dataclasses

    from console_harness import console_app

    from artery import Listen

    app = console_app(sqlite_url)
    app.settings = dataclasses.replace(app.settings, console_session_ttl=0.5)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        from support import api_key

        key = await api_key(app, *READ)
        async with httpx.AsyncClient(base_url=app.http.url) as web:
            signed = await web.post("/console/sign-in", data={"key": key})
            assert "max-age=0" not in signed.headers["set-cookie"].lower()
            assert (await web.get("/console/catalog")).status_code == 200
            await asyncio.sleep(1.6)  # past the TTL and the session cache
            expired = await web.get("/console/catalog")
            assert expired.status_code == 303


def test_a_session_time_that_is_not_positive_is_refused() -> None:
    from artery import Settings
    from artery.errors import ConfigError

    with pytest.raises(ConfigError, match="ARTERY_CONSOLE_SESSION_TTL"):
        Settings(console_session_ttl=0)


async def test_no_link_can_put_a_notice_on_a_console_page(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        page = await web.get("/console/catalog", params={"done": "Call IT and read your key"})
        assert page.status_code == 200 and "Call IT" not in page.text
        root = await web.get("/console/")
        assert root.status_code == 303 and root.headers["x-frame-options"] == "DENY"


def test_a_read_only_viewer_sees_a_destination_address_without_its_credentials() -> None:
    from artery.console.web import address

    url = "https://bot:hunter2@hooks.example.com:8443/T0/B1?token=abc#x"
    assert address(url, whole=False) == "https://hooks.example.com:8443/T0/B1…"
    assert address(url, whole=True) == url


async def test_a_flood_of_sign_in_attempts_is_slowed_down(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, httpx.AsyncClient(base_url=console.url) as web:
        answers = [
            (await web.post("/console/sign-in", data={"key": "ak_00000000_" + "x" * 43}))
            for _ in range(21)
        ]
        assert [a.status_code for a in answers[:20]] == [401] * 20
        assert answers[20].status_code == 429 and "retry-after" in answers[20].headers
