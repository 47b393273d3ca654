"""The console in a real browser (headless Chromium): a person signs in with the keyboard,
finds an integration in the catalog, reads its contract's diff and the health page."""

from __future__ import annotations

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
