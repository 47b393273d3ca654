"""The console in a real browser (headless Chromium): a person signs in with the keyboard,
finds an integration in the catalog, reads its contract's diff and the health page."""

from __future__ import annotations

import base64
import re

from browser import browsing, shot, sign_in
from console_harness import READ, register_v1, serving
from playwright.async_api import expect

from support import eventually


async def test_a_person_signs_in_and_finds_an_integration_in_the_catalog(sqlite_url: str) -> None:
    await register_v1(sqlite_url)
    async with serving(sqlite_url) as console, browsing(console.url) as page:
        await sign_in(page, await console.key(*READ, name="alice"))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Catalog")
        await page.get_by_label("Search integrations, events and fields").fill("email")
        await page.keyboard.press("Enter")
        await page.get_by_role("link", name="shop-sync").first.click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Integration shop-sync")
        await expect(
            page.get_by_text("https://wiki.example.com/runbooks/shop-sync")
        ).to_be_visible()
        await shot(page, "console-integration")
        await page.get_by_role("link", name="shop.order.placed").first.click()
        await expect(page.get_by_role("cell", name="/email", exact=True)).to_have_count(2)
        await shot(page, "console-contract")


async def test_the_health_page_draws_what_flowed(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, browsing(console.url) as page:
        await console.publish_orders(30, refused_every=6)
        await sign_in(page, await console.key(*READ), start="/console/health")

        # the destination's failed attempts count too: its partner (port 9) never answers
        chart = page.get_by_role(
            "img",
            name=re.compile(r"^shop-sync, last hour: 25 delivered, \d+ failed attempts, 5 dead"),
        )

        async def drawn() -> bool:  # the records are written once a second
            await page.reload()
            return await chart.count() == 1

        await eventually(drawn, "the health chart to show what flowed", timeout=15)
        await expect(chart).to_be_visible()
        await expect(page.get_by_text("5 dead letter(s) wait")).to_be_visible()
        await shot(page, "console-health")


async def test_an_operator_opens_a_dead_letter_and_redrives_it(store_url: str) -> None:
    async with serving(store_url) as console, browsing(console.url) as page:
        await console.publish_orders(4, refused_every=4)  # order o-0 is refused
        await sign_in(page, await console.key(name="operator"), start="/console/dead-letters")

        async def buried() -> bool:
            await page.reload()
            return await page.get_by_role("link", name="1", exact=True).count() == 1

        await eventually(buried, "the refused order's dead letter", timeout=15)
        await page.get_by_role("link", name="1", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Dead letter 1")
        await expect(page.get_by_text("unknown VAT code").first).to_be_visible()
        assert "buyer0@example.com" not in await page.content()  # pii stays redacted
        await shot(page, "console-dead-letter")
        await page.get_by_role("button", name="Redrive").click()
        await expect(page.get_by_role("status")).to_contain_text("Redrove")
        entries = await console.app.store.read(
            lambda tx: tx.execute("SELECT actor, channel, action FROM audit_entries")
        )
        assert ("operator", "console", "redrive") in [tuple(e) for e in entries]


async def test_a_manager_approves_a_waiting_run_and_sees_it_complete(store_url: str) -> None:
    async with serving(store_url) as console, browsing(console.url) as page:
        handle = await console.app.workflows.start("fulfil", {"order_id": "o-9"}, id="order-9")
        await sign_in(page, await console.key(name="manager"), start="/console/runs/waiting")

        async def waiting() -> bool:
            await page.reload()
            return await page.get_by_role("button", name="Approve run order-9").count() == 1

        await eventually(waiting, "the run to wait for its approval", timeout=15)
        await shot(page, "console-waiting")
        await page.get_by_role("button", name="Approve run order-9").click()
        assert await handle.result(timeout=10) == {"approved": True}
        await page.goto("/console/runs/order-9")
        await expect(page.get_by_text("completed").first).to_be_visible()
        await shot(page, "console-run")


async def test_an_owner_sees_why_a_partners_webhook_was_rejected(sqlite_url: str) -> None:
    from test_webhooks_pages import signed

    async with serving(sqlite_url) as console, browsing(console.url) as page:
        body = b'{"id": 7, "total_price": "12.50"}'
        wrong = "whsec_" + base64.b64encode(b"w" * 32).decode()
        refused = await page.request.post(
            "/hooks/shopify", data=body, headers=signed(body, wrong, "m1")
        )
        assert refused.status == 401
        await sign_in(page, await console.key(*READ), start="/console/webhooks")

        async def counted() -> bool:  # the ledger writes in batches
            await page.reload()
            return await page.get_by_text("bad-signature: 1").count() > 0

        await eventually(counted, "the rejection to be counted", timeout=15)
        await page.get_by_role("link", name="shopify").first.click()
        await expect(page.get_by_text("does not match its body").first).to_be_visible()
        await shot(page, "console-webhook-rejection")
