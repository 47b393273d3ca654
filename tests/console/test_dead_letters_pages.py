"""The dead letters pages: the list and its filters, one letter with its errors and its event
redacted, a redrive and a purge (with its confirmation), each audited, and what a
read-only viewer may not do."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from console_harness import READ, REFUSED, Console, csrf_of, serving

from artery.delivery.dead_letters import Filter
from artery.errors import NotFound
from artery.govern import audit
from support import eventually

ROW = re.compile(r'href="/console/dead-letters/(\d+)"')


async def buried(console: Console, count: int) -> list[int]:
    """Publish orders until ``count`` are dead letters (every other order is refused)."""
    await console.publish_orders(count * 2, refused_every=2)

    async def all_there() -> bool:
        return len(await console.app.dead_letters.list(Filter(), 1000)) == count

    await eventually(all_there, f"{count} dead letters")
    return [letter.id for letter in await console.app.dead_letters.list(Filter(), 1000)]


async def actions(console: Console) -> list[dict[str, Any]]:
    """The console's audit entries other than signing in."""
    found = await audit.entries(console.app.store, channel="console")
    return [entry for entry in found if entry["action"] != "sign-in"]


def listed(page: httpx.Response) -> list[int]:
    assert page.status_code == 200, page.text
    return [int(found) for found in ROW.findall(page.text)]


async def test_the_list_is_newest_first_filtered_and_paged(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        ids = await buried(c, 3)
        page = await web.get("/console/dead-letters")
        assert listed(page) == sorted(ids, reverse=True)
        assert "builtins.ValueError" in page.text and "gave up after 1 attempt(s)" in page.text
        assert "@example.com" not in page.text
        for query, expected in [
            ({"integration": "shop-sync", "group": "erp-invoices"}, 3),
            ({"integration": "crm-sync"}, 0),
            ({"error_type": "ValueError"}, 3),
            ({"error_type": "KeyError"}, 0),
            ({"event_type": "shop.order.placed"}, 3),
            ({"since": "2000-01-01", "until": "2999-01-01T00:00"}, 3),
            ({"since": "2999-01-01T00:00Z"}, 0),
        ]:
            assert len(listed(await web.get("/console/dead-letters", params=query))) == expected
        first = await web.get("/console/dead-letters", params={"limit": 2})
        assert listed(first) == sorted(ids, reverse=True)[:2]
        older = re.search(r'href="(\?[^"]*before=\d+[^"]*)"', first.text)
        assert older, "a full page links to the older letters"
        rest = await web.get("/console/dead-letters" + older[1].replace("&amp;", "&"))
        assert listed(rest) == [min(ids)]


async def test_a_bad_filter_is_a_page_naming_the_fix(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        bad_time = await web.get("/console/dead-letters", params={"since": "yesterday"})
        assert bad_time.status_code == 400
        assert "is not a time" in bad_time.text and "2025-01-31T14:00" in bad_time.text
        bad_type = await web.get("/console/dead-letters", params={"error_type": "Value*"})
        assert bad_type.status_code == 400 and "not a class name" in bad_type.text
        backwards = await web.get(
            "/console/dead-letters", params={"since": "2025-02-01", "until": "2025-01-01"}
        )
        assert backwards.status_code == 400 and "is not before" in backwards.text


async def test_a_dead_letter_shows_every_error_and_its_event_redacted(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        (letter_id,) = await buried(c, 1)
        page = await web.get(f"/console/dead-letters/{letter_id}")
        assert page.status_code == 200
        shown = html.unescape(page.text)
        assert REFUSED in shown and "builtins.ValueError" in shown
        assert '"order_id": "o-0"' in shown  # the event is shown...
        assert "buyer0@example.com" not in shown  # ...without its classified email
        assert '<span class="tag pii">/email</span>' in shown
        assert ">Redrive</button>" in page.text


async def test_an_unknown_dead_letter_is_a_not_found_page(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        for path in ("/console/dead-letters/424242", "/console/dead-letters/abc"):
            page = await web.get(path)
            assert page.status_code == 404 and "does not exist" in page.text


async def test_redriving_takes_a_letter_off_the_open_list_on_the_record(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        first, second = await buried(c, 2)
        page = await web.get("/console/dead-letters")
        answer = await web.post(
            "/console/dead-letters/redrive", data={"csrf": csrf_of(page.text), "id": str(first)}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/dead-letters"
        after = await web.get(answer.headers["location"])
        assert first not in listed(after) and second in listed(after)
        assert "Redrove 1 dead letter." in after.text  # the notice, shown once
        assert "Redrove 1 dead letter." not in (await web.get("/console/dead-letters")).text
        assert (await c.app.dead_letters.get(first)).redriven_at is not None
        (entry,) = await actions(c)
        assert (entry["actor"], entry["action"]) == ("ops", "redrive")
        assert (entry["target"], entry["integration"]) == (f"dead letter {first}", "shop-sync")
        noted = await c.app.store.read(
            lambda tx: tx.execute("SELECT kind, actor, integration FROM interventions")
        )
        assert [tuple(row) for row in noted] == [("redrive", "ops", "shop-sync")]


async def test_redrive_without_a_selection_says_what_to_do(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        page = await web.get("/console/dead-letters")
        answer = await web.post("/console/dead-letters/redrive", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 400 and "no dead letter is selected" in answer.text


async def test_purge_happens_only_once_confirmed(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        first, second = await buried(c, 2)
        csrf = csrf_of((await web.get("/console/dead-letters")).text)
        ids = {"csrf": csrf, "id": [str(first), str(second)]}
        asked = await web.post("/console/dead-letters/purge", data=ids)
        assert asked.status_code == 200 and "Purge 2 dead letters?" in asked.text
        unticked = await web.post("/console/dead-letters/purge", data={**ids, "asked": "1"})
        assert unticked.status_code == 400 and "Nothing was purged" in unticked.text
        assert len(await c.app.dead_letters.list(Filter(), 10)) == 2
        assert await actions(c) == []
        done = await web.post("/console/dead-letters/purge", data={**ids, "confirm": "yes"})
        assert done.status_code == 303
        assert "Purged 2 dead letters" in (await web.get(done.headers["location"])).text
        for gone in (first, second):
            with pytest.raises(NotFound):
                await c.app.dead_letters.get(gone)
        (entry,) = await actions(c)
        assert entry["action"] == "purge" and entry["target"] == f"dead letters {first}, {second}"


async def test_a_read_only_viewer_sees_no_actions_and_may_take_none(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in(*READ, name="viewer") as web:
        (letter_id,) = await buried(c, 1)
        page = await web.get("/console/dead-letters")
        assert listed(page) == [letter_id]
        assert "Redrive selected" not in page.text and 'type="checkbox" id="pick-' not in page.text
        assert "Purge selected" not in page.text
        detail = await web.get(f"/console/dead-letters/{letter_id}")
        assert ">Redrive</button>" not in detail.text and "Purge" not in detail.text
        form = {"csrf": csrf_of(page.text), "id": str(letter_id)}
        for action in ("redrive", "purge"):
            refused = await web.post(f"/console/dead-letters/{action}", data=form)
            assert refused.status_code == 403
        assert (await c.app.dead_letters.get(letter_id)).redriven_at is None
