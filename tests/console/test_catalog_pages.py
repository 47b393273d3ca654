"""The catalog: a team finds an integration, its owners and runbook, and a contract's
versions with a readable diff, its classified fields and who reads it."""

from __future__ import annotations

from console_harness import READ, register_v1, serving


async def test_the_catalog_lists_integrations_and_finds_them_by_a_field_name(
    store_url: str,
) -> None:
    async with serving(store_url) as console, console.signed_in(*READ) as web:
        page = (await web.get("/console/catalog")).text
        assert "shop-sync" in page and "post an invoice for every order" in page
        assert "team-orders" in page and "shop.order.placed" in page
        by_field = (await web.get("/console/catalog", params={"q": "email"})).text
        assert "shop-sync" in by_field
        nothing = (await web.get("/console/catalog", params={"q": "warehouse"})).text
        assert "/console/catalog/integrations/shop-sync" not in nothing
        assert "No integration matches" in nothing


async def test_an_integration_page_names_owners_runbook_and_what_it_runs(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        page = (await web.get("/console/catalog/integrations/shop-sync")).text
        for expected in (
            "team-platform",
            "https://wiki.example.com/runbooks/shop-sync",
            "erp-invoices",
            "fulfil",
            "shopify",
            "erp-hook",
            "/email",
        ):
            assert expected in page, expected
        missing = await web.get("/console/catalog/integrations/nope")
        assert missing.status_code == 404 and "shop-sync" in missing.text


async def test_a_contract_page_shows_versions_and_what_changed(store_url: str) -> None:
    await register_v1(store_url)
    async with serving(store_url) as console, console.signed_in(*READ) as web:
        answer = await web.get("/console/catalog/contracts/shop.order.placed")
        assert answer.status_code == 200, answer.text
        page = answer.text
        assert "v1" in page and "v2" in page
        assert "added" in page and "string, optional, pii" in page  # the field diff
        assert "<code>/email</code>" in page and "pii" in page
        assert "backward" in page
        assert "a@example.com" not in page  # the example's pii field is redacted
        assert "erp-invoices" in page  # who reads it
        bad = await web.get("/console/catalog/contracts/shop.order.placed?from=9")
        assert bad.status_code == 400 and "use 1, 2" in bad.text
