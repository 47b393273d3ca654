"""A webhook source over real HTTP, on SQLite and PostgreSQL: a signed call becomes one
durable event of the canonical contract; every bad call gets its own status and is kept,
redacted, where a person can see it; a repeated delivery stores nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from hooks_harness import SECRET, SHOP_ORDER, Hooks, serving, shop_app, signed

from artery.errors import ConfigError
from artery.gateway.decisions import StoreDecisions

BODY = orjson.dumps(SHOP_ORDER)
OTHER_SECRET = "whsec_b3RoZXIgc2VjcmV0IG9mIDMyIGJ5dGVzIGxvbmcgISE="


@pytest.fixture(autouse=True)
def shop_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ARTERY_SECRET_TEST_SHOP", SECRET)
    yield


async def post(hooks: Hooks, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hooks.url, timeout=10) as http:
        return await http.post("/hooks/shop", content=body, headers=headers)


async def rejections(hooks: Hooks) -> list[dict[str, object]]:
    async with hooks.admin() as admin:
        answer = await admin.get("/admin/sources/shop/rejections")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["rejections"]
    return found


async def test_a_signed_call_is_mapped_validated_and_stored_before_the_answer(
    store_url: str,
) -> None:
    async with serving(shop_app(store_url)) as hooks:
        answer = await post(hooks, BODY, signed(BODY))
        assert answer.status_code == 200, answer.text
        assert answer.json()["duplicate"] is False
        assert await hooks.stored() == 1  # durable before the answer, not eventually
        (head,) = [
            e
            for p in range(8)
            for e in await hooks.app.log.read("shop.order", p, 0)
            if e.id == answer.json()["id"]
        ]
        assert head.data == {
            "order_id": "820982911946154508",  # the 64-bit id kept exactly
            "total_cents": 40300,
            "customer": {"email": "jon@example.com"},
        }
        assert head.type == "shop.order"


async def test_a_repeated_delivery_is_answered_200_and_stored_once(store_url: str) -> None:
    async with serving(shop_app(store_url)) as hooks:
        first = await post(hooks, BODY, signed(BODY, "msg_7"))
        again = await post(hooks, BODY, signed(BODY, "msg_7"))  # the sender's retry
        other = await post(hooks, BODY, signed(BODY, "msg_8"))
        assert [r.status_code for r in (first, again, other)] == [200, 200, 200]
        assert again.json() == {**first.json(), "duplicate": True}
        assert other.json()["id"] != first.json()["id"]
        assert await hooks.stored() == 2


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (dict, "missing-signature"),
        (lambda: signed(BODY, secret=OTHER_SECRET), "bad-signature"),
        (lambda: signed(BODY, at=datetime.now(UTC) - timedelta(minutes=6)), "stale-timestamp"),
    ],
)
async def test_unsigned_forged_and_replayed_calls_are_401_and_kept(
    sqlite_url: str, headers: Callable[[], dict[str, str]], reason: str
) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:  # signed now, not at collection
        answer = await post(hooks, BODY, {"content-type": "application/json", **headers()})
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("artery.webhook-signature")
        assert await hooks.stored() == 0
        (kept,) = await rejections(hooks)
        assert kept["reason"] == reason and kept["status"] == 401


async def test_a_body_over_the_limit_is_413_before_it_is_read_whole(sqlite_url: str) -> None:
    app = shop_app(sqlite_url, max_body=1024)
    big = orjson.dumps({**SHOP_ORDER, "note": "x" * 2000})
    async with serving(app) as hooks:
        declared = await post(hooks, big, signed(big))
        assert declared.status_code == 413

        async def chunks():  # no Content-Length: counted as it streams in
            for _ in range(64):
                yield b"x" * 1024

        async with httpx.AsyncClient(base_url=hooks.url, timeout=10) as http:
            streamed = await http.post("/hooks/shop", content=chunks(), headers=signed(b""))
        assert streamed.status_code == 413
        assert await hooks.stored() == 0
        assert [r["reason"] for r in await rejections(hooks)] == ["payload-too-large"] * 2


async def test_a_signed_body_that_is_not_json_is_400(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:
        body = b"order=1&total=403"
        answer = await post(hooks, body, signed(body))
        assert answer.status_code == 400
        assert answer.json()["type"].endswith("artery.malformed-body")


async def test_a_payload_the_mapping_cannot_map_is_422_naming_the_expression(
    sqlite_url: str,
) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:
        body = orjson.dumps({**SHOP_ORDER, "total_price": {"amount": "secret-ish"}})
        answer = await post(hooks, body, signed(body))
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["type"].endswith("artery.mapping-failed")
        assert "to_number" in problem["detail"] or "multiply" in problem["detail"]
        assert "secret-ish" not in answer.text


async def test_a_mapped_event_the_contract_refuses_is_422_with_pointers_and_no_values(
    store_url: str,
) -> None:
    async with serving(shop_app(store_url)) as hooks:
        body = orjson.dumps(
            {**SHOP_ORDER, "total_price": "-5.00", "customer": {"email": ["jon@example.com"]}}
        )
        answer = await post(hooks, body, signed(body))
        assert answer.status_code == 422
        pointers = {e["pointer"] for e in answer.json()["errors"]}
        assert pointers == {"/total_cents", "/customer/email"}
        assert "jon@example.com" not in answer.text and "-500" not in answer.text
        (kept,) = await rejections(hooks)
        assert kept["reason"] == "contract-violation"
        assert "jon@example.com" not in orjson.dumps(kept).decode()
        assert await hooks.stored() == 0


async def test_kept_rejections_hold_no_signature_and_no_body_value(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:
        headers = signed(BODY, secret=OTHER_SECRET)
        await post(hooks, BODY, {**headers, "authorization": "Bearer leaked"})
        (kept,) = await rejections(hooks)
        shown = orjson.dumps(kept).decode()
        assert headers["webhook-signature"] not in shown and "leaked" not in shown
        assert kept["headers"]["webhook-id"] == "msg_1"  # what identifies the call stays
        assert kept["body"] == {
            "id": "<number>",
            "total_price": "<string>",
            "customer": {"email": "<string>", "phone": "<string>"},
        }


async def test_every_call_is_an_authorization_decision(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:
        await post(hooks, BODY, signed(BODY))
        await post(hooks, BODY, {"content-type": "application/json"})
        await next(
            s for s in hooks.app._running().services if isinstance(s, StoreDecisions)
        ).flush()
        async with hooks.admin() as admin:
            found = await admin.get("/admin/decisions?credential=signature:standard-webhooks")
        outcomes = sorted(d["outcome"] for d in found.json()["decisions"])
        assert outcomes == ["allowed", "refused"]
        assert {d["subject"] for d in found.json()["decisions"]} == {"source:shop"}


async def test_a_source_silent_past_its_cadence_is_reported_silent(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url, expect_every=0.3)) as hooks:
        async with hooks.admin() as admin:
            (fresh,) = (await admin.get("/admin/sources")).json()["sources"]
            assert fresh["silent"] is False and fresh["accepted"] == 0
            await asyncio.sleep(0.4)
            (quiet,) = (await admin.get("/admin/sources")).json()["sources"]
            assert quiet["silent"] is True
            await post(hooks, BODY, signed(BODY))
            (heard,) = (await admin.get("/admin/sources")).json()["sources"]
        assert heard["silent"] is False and heard["accepted"] == 1
        assert heard["last_accepted_at"] is not None
        assert heard["secret"] == ["ARTERY_SECRET_TEST_SHOP"]  # its name, never its value
        assert SECRET not in orjson.dumps(heard).decode()


async def test_rejections_are_counted_per_reason(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url)) as hooks:
        for _ in range(3):
            await post(hooks, BODY, {"content-type": "application/json"})
        await post(hooks, b"[", signed(b"["))
        async with hooks.admin() as admin:
            (status,) = (await admin.get("/admin/sources")).json()["sources"]
        assert status["rejected"] == {"missing-signature": 3, "malformed-body": 1}


async def test_the_admin_view_needs_a_credential(sqlite_url: str) -> None:
    async with serving(shop_app(sqlite_url)) as hooks, httpx.AsyncClient(base_url=hooks.url) as h:
        assert (await h.get("/admin/sources")).status_code == 401


async def test_a_source_whose_secret_is_not_set_stops_the_start(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTERY_SECRET_TEST_SHOP")
    with pytest.raises(ConfigError, match="ARTERY_SECRET_TEST_SHOP"):
        async with serving(shop_app(sqlite_url)):
            pass
