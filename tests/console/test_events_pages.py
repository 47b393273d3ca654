"""The Events pages: topics, a topic's events without their data, one event redacted by
its contract unless a console:reveal holder reveals it (audited, paths only), and which
consumer groups have processed it."""

from __future__ import annotations

import re

from console_harness import READ, Console, csrf_of, serving

from artery.govern import audit
from support import eventually

TOPIC = "shop.order.placed"


async def an_order(console: Console, n: int = 0) -> tuple[str, int, int]:
    """Publish order ``n``; its event's id, partition and offset."""
    order = {"order_id": f"o-{n}", "total": 10.0, "email": f"buyer{n}@example.com"}
    event = await console.app.publish(TOPIC, order, key=order["order_id"])
    assert event.partition is not None and event.offset is not None
    return event.id, event.partition, event.offset


async def test_a_topic_lists_its_events_without_their_data(store_url: str) -> None:
    async with serving(store_url) as console, console.signed_in(*READ) as web:
        ids = [(await an_order(console, n))[0] for n in range(3)]
        index = await web.get("/console/events")
        assert index.status_code == 200
        assert f"/console/events/{TOPIC}" in index.text and "erp-invoices" in index.text
        listed = await web.get(f"/console/events/{TOPIC}")
        assert listed.status_code == 200
        assert all(event_id in listed.text for event_id in ids)
        assert "example.com" not in listed.text and "o-1" in listed.text  # the key, no data
        _, partition, offset = await an_order(console, 3)
        after = await web.get(
            f"/console/events/{TOPIC}", params={"partition": partition, "after": offset}
        )
        assert "No events here" in after.text
        bad = await web.get(f"/console/events/{TOPIC}", params={"partition": 9})
        assert bad.status_code == 400 and "partition=" in bad.text
        orphan = await web.get(f"/console/events/{TOPIC}", params={"after": 1})
        assert orphan.status_code == 400 and "needs a partition" in orphan.text
        unknown = await web.get("/console/events/no.such.topic")
        assert unknown.status_code == 404


async def test_classified_fields_are_revealed_only_to_a_reveal_holder_and_audited(
    store_url: str,
) -> None:
    async with serving(store_url) as console:
        event_id, partition, offset = await an_order(console)
        page_url = f"/console/events/{TOPIC}/{partition}/{offset}"
        async with console.signed_in(*READ, name="reader") as reader:
            page = await reader.get(page_url)
            assert page.status_code == 200 and event_id in page.text
            assert "buyer0@example.com" not in page.text and "[redacted]" in page.text
            assert "Reveal classified fields" not in page.text
            refused = await reader.post(page_url + "/reveal", data={"csrf": csrf_of(page.text)})
            assert refused.status_code == 403 and "buyer0@example.com" not in refused.text
        async with console.signed_in(*READ, "console:reveal", name="dpo") as dpo:
            page = await dpo.get(page_url)
            assert "buyer0@example.com" not in page.text
            assert "Reveal classified fields" in page.text
            shown = await dpo.post(page_url + "/reveal", data={"csrf": csrf_of(page.text)})
            assert shown.status_code == 200 and "buyer0@example.com" in shown.text
        (entry,) = [e for e in await audit.entries(console.app.store) if e["action"] == "reveal"]
        assert entry["actor"] == "dpo" and entry["channel"] == "console"
        assert entry["target"] == f"{TOPIC}/{partition}/{offset}"
        assert entry["detail"] == "fields /email" and entry["integration"] == "shop-sync"


async def test_the_processed_by_column_follows_the_groups_commits(store_url: str) -> None:
    async with serving(store_url) as console, console.signed_in(*READ) as web:
        _, partition, offset = await an_order(console)
        page_url = f"/console/events/{TOPIC}/{partition}/{offset}"
        log = console.app.runtime.log
        await log.join("late-reader", TOPIC, start="earliest")  # a group that read nothing

        async def processed(group: str) -> bool:
            page = (await web.get(page_url)).text
            row = re.search(rf"<td>{group}</td>.*?</tr>", page, re.S)
            assert row, f"the page has no row for the group {group}"
            return ">yes<" in row[0]

        await eventually(lambda: processed("erp-invoices"), "erp-invoices to commit past it")
        assert not await processed("late-reader")
        await log.commit("late-reader", TOPIC, {partition: offset})  # next to read: this one
        assert not await processed("late-reader")
        await log.commit("late-reader", TOPIC, {partition: offset + 1})
        assert await processed("late-reader")


async def test_an_event_that_is_not_stored_is_not_found(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        await an_order(console)
        missing = await web.get(f"/console/events/{TOPIC}/0/999")
        assert missing.status_code == 404 and "no event at partition 0" in missing.text
        bad = await web.get(f"/console/events/{TOPIC}/7/0")
        assert bad.status_code == 404


async def test_a_classified_value_used_as_key_or_subject_is_scrubbed_too(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        email = "keyed@example.com"
        order = {"order_id": "o-k", "total": 1.0, "email": email, "note": "refuse"}
        event = await console.app.publish(TOPIC, order, key=email, subject=email)
        listed = await web.get(f"/console/events/{TOPIC}")
        assert event.id in listed.text and email not in listed.text
        page = await web.get(f"/console/events/{TOPIC}/{event.partition}/{event.offset}")
        assert page.status_code == 200 and email not in page.text

        async def buried() -> bool:
            return bool(await console.app.dead_letters.list())

        await eventually(buried, "the refused order's dead letter")
        (letter,) = await console.app.dead_letters.list()
        detail = await web.get(f"/console/dead-letters/{letter.id}")
        assert detail.status_code == 200 and email not in detail.text


async def test_a_number_too_long_for_python_is_not_found_not_a_crash(sqlite_url: str) -> None:
    async with serving(sqlite_url) as console, console.signed_in(*READ) as web:
        huge = "9" * 5000
        for path, status in (
            (f"/console/events/{TOPIC}/0/{huge}", 404),
            (f"/console/dead-letters/{huge}", 404),
            (f"/console/dead-letters?limit={huge}", 400),
            (f"/console/catalog/contracts/{TOPIC}?to={huge}", 400),
            ("/console/webhooks/destinations/erp-hook?status=²", 400),
        ):
            answer = await web.get(path)
            assert answer.status_code == status, (path[:60], answer.status_code)
