"""The Webhooks pages: a source's rejected calls with their reason (redacted), a
destination's attempts by status, and the operator's levers (disable, enable, resend,
secret rotation), each audited and refused to a read-only viewer."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from console_harness import READ, SECRET, Console, csrf_of, serving
from standardwebhooks.webhooks import Webhook

from artery.govern import audit
from support import admin_client, eventually

DESTINATION = "/console/webhooks/destinations/erp-hook"


def signed(body: bytes, secret: str, msg_id: str) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, made by the standardwebhooks library."""
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "content-type": "application/json",
    }


async def console_entries(console: Console, action: str) -> list[dict[str, object]]:
    found = await audit.entries(console.app.store, channel="console")
    return [e for e in found if e["action"] == action]


async def test_a_rejected_call_shows_its_reason_and_no_secret_or_value(store_url: str) -> None:
    async with serving(store_url) as console, httpx.AsyncClient(base_url=console.url) as hooks:
        body = orjson.dumps({"id": 7, "total_price": "12.50", "email": "who@example.com"})
        wrong = "whsec_" + base64.b64encode(b"w" * 32).decode()
        refused = await hooks.post(
            "/hooks/shopify", content=body, headers=signed(body, wrong, "m1")
        )
        assert refused.status_code == 401
        good = await hooks.post("/hooks/shopify", content=body, headers=signed(body, SECRET, "m2"))
        assert good.status_code < 300, good.text
        async with console.signed_in(*READ) as web:
            index = await web.get("/console/webhooks")
            assert index.status_code == 200
            assert "shopify" in index.text and "bad-signature: 1" in index.text
            page = await web.get("/console/webhooks/sources/shopify")
            assert page.status_code == 200
            assert "bad-signature" in page.text
            assert "does not match its body" in page.text  # the reason's detail
            assert "&lt;string&gt;" in page.text  # the body's shape...
            assert "who@example.com" not in page.text  # ...never its values
            assert refused.request.headers["webhook-signature"] not in page.text
            assert "ARTERY_SECRET_CONSOLE_SHOP" in page.text and SECRET not in page.text
            unknown = await web.get("/console/webhooks/sources/nope")
            assert unknown.status_code == 404 and "shopify" in unknown.text


async def test_a_destination_lists_its_attempts_and_is_disabled_and_enabled(
    store_url: str,
) -> None:
    async with serving(store_url) as console, console.signed_in() as web:
        await console.publish_orders(2)

        async def attempted() -> bool:
            return "ConnectError" in (await web.get(DESTINATION)).text

        await eventually(attempted, "the refused deliveries to be listed")
        index = await web.get("/console/webhooks")
        assert "ConnectError: " in index.text
        page = await web.get(DESTINATION)
        assert "shop.order.placed" in page.text and "Disable erp-hook" in page.text
        failed = await web.get(DESTINATION, params={"outcome": "delivered"})
        assert "No attempts match" in failed.text
        bad = await web.get(DESTINATION, params={"outcome": "lost"})
        assert bad.status_code == 400 and "delivered, failed, skipped" in bad.text

        off = await web.post(DESTINATION + "/disable", data={"csrf": csrf_of(page.text)})
        assert off.status_code == 303
        page = await web.get(off.headers["location"])
        assert "is disabled" in page.text and "disabled by ops (console)" in page.text
        assert "Enable erp-hook" in page.text
        on = await web.post(DESTINATION + "/enable", data={"csrf": csrf_of(page.text)})
        assert on.status_code == 303
        assert "Disable erp-hook" in (await web.get(DESTINATION)).text
        (disabled,) = await console_entries(console, "disable")
        (enabled,) = await console_entries(console, "enable")
        assert (disabled["actor"], disabled["target"], disabled["integration"]) == (
            "ops",
            "erp-hook",
            "shop-sync",
        )
        assert enabled["target"] == "erp-hook"


async def test_a_resend_is_sent_noted_and_audited(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in() as web:
        await console.publish_orders(1)
        store = console.app.store

        async def event_id() -> str | None:
            rows = await store.read(
                lambda tx: tx.execute("SELECT event_id FROM webhook_attempts LIMIT 1")
            )
            return str(rows[0][0]) if rows else None

        await eventually(event_id, "a first attempt")
        sent = await event_id()
        page = await web.get(DESTINATION)
        answer = await web.post(
            DESTINATION + "/resend", data={"csrf": csrf_of(page.text), "event_id": sent}
        )
        assert answer.status_code == 303
        shown = await web.get(answer.headers["location"])
        assert f"Resent event {sent} to erp-hook: failed" in shown.text
        assert "resend" in shown.text  # the attempt's trigger
        (entry,) = await console_entries(console, "resend")
        assert entry["target"] == "erp-hook" and sent in str(entry["detail"])
        noted = await store.read(
            lambda tx: tx.execute("SELECT kind, actor FROM interventions WHERE kind = 'resend'")
        )
        assert [tuple(r) for r in noted] == [("resend", "ops")]
        unknown = await web.post(
            DESTINATION + "/resend", data={"csrf": csrf_of(page.text), "event_id": "nope"}
        )
        assert unknown.status_code == 404 and "never sent event" in unknown.text


async def test_a_read_only_viewer_sees_no_levers_and_cannot_pull_them(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        page = await web.get(DESTINATION)
        assert page.status_code == 200
        assert "Disable erp-hook" not in page.text and "Resend now" not in page.text
        refused = await web.post(DESTINATION + "/disable", data={"csrf": csrf_of(page.text)})
        assert refused.status_code == 403
        assert not await console_entries(console, "disable")


async def test_a_run_time_destinations_secret_is_rotated_with_an_overlap(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    monkeypatch.setenv("ARTERY_SECRET_CONSOLE_CRM_NEXT", new)
    async with serving(sqlite_url) as console, console.signed_in() as web:
        async with await admin_client(console.app, console.url) as admin:
            made = await admin.post(
                "/admin/destinations",
                json={
                    "name": "crm",
                    "url": "http://127.0.0.1:9/crm",
                    "events": ["shop.order.*"],
                    "secret": "console-erp",
                },
            )
            assert made.status_code == 201, made.text
        crm = "/console/webhooks/destinations/crm"
        page = await web.get(crm)
        assert "Add secret" in page.text and "declared in code" not in page.text
        pasted = await web.post(
            crm + "/rotate", data={"csrf": csrf_of(page.text), "secret": SECRET}
        )
        assert pasted.status_code == 400 and "name the secret, not hold it" in pasted.text
        unset = await web.post(
            crm + "/rotate", data={"csrf": csrf_of(page.text), "secret": "crm-unset"}
        )
        assert unset.status_code == 400 and "ARTERY_SECRET_CRM_UNSET" in unset.text
        for borrowed, why in (
            ("console-shop", "already the secret of shopify"),  # a source's: replayable
            ("env:HOME", "plain name"),  # any variable of the process
        ):
            refused = await web.post(
                crm + "/rotate", data={"csrf": csrf_of(page.text), "secret": borrowed}
            )
            assert refused.status_code == 400 and why in refused.text, borrowed
        added = await web.post(
            crm + "/rotate", data={"csrf": csrf_of(page.text), "secret": "console-crm-next"}
        )
        assert added.status_code == 303, added.text
        page = await web.get(crm)
        assert "ARTERY_SECRET_CONSOLE_CRM_NEXT" in page.text
        assert "ARTERY_SECRET_CONSOLE_ERP" in page.text and "Retire secret" in page.text
        assert SECRET not in page.text
        retired = await web.post(
            crm + "/retire", data={"csrf": csrf_of(page.text), "secret": "console-erp"}
        )
        assert retired.status_code == 303
        await web.get(crm)  # shows what was done, once
        page = await web.get(crm)
        assert "ARTERY_SECRET_CONSOLE_ERP" not in page.text
        assert "ARTERY_SECRET_CONSOLE_CRM_NEXT" in page.text
        (rotated,) = await console_entries(console, "rotate-secret")
        assert "ARTERY_SECRET_CONSOLE_CRM_NEXT" in str(rotated["detail"])
        assert await console_entries(console, "retire-secret")

        declared = await web.get(DESTINATION)
        assert "declared in the app's code" in declared.text
        assert "Add secret" not in declared.text
        refused = await web.post(
            DESTINATION + "/rotate",
            data={"csrf": csrf_of(declared.text), "secret": "console-crm-next"},
        )
        assert refused.status_code == 400 and "its secrets are too" in refused.text
