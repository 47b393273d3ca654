"""Health: after orders flow (some refused), the page shows throughput, time to sync,
dead letters waiting and a chart per integration, read from the store's records."""

from __future__ import annotations

import re

from console_harness import READ, serving

from support import eventually


async def test_health_shows_what_flowed_and_what_needs_a_person(store_url: str) -> None:
    async with serving(store_url) as console, console.signed_in(*READ) as web:
        await console.publish_orders(20, refused_every=5)

        async def recorded() -> bool:
            page = (await web.get("/console/health")).text
            return "4 dead letter(s) wait" in page and "16 delivered" in page

        await eventually(recorded, "the health page to show the records", timeout=15)
        page = (await web.get("/console/health")).text
        assert re.search(r"Time to sync p50", page)
        assert re.search(r"\d+ ms · \d+ ms", page), "p50 and p99 of the last hour"
        assert (
            '<svg class="chart" role="img" aria-label="shop-sync, last hour: 16 delivered' in page
        )
        assert "erp-invoices" in page  # the backlog's group
        assert "event type" not in page or "nobody consumes" in page
