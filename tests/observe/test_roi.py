"""The ROI report from the runtime's own records, on SQLite and PostgreSQL, over real HTTP:
interventions per 1,000 events, each partner's time to recovery, time to first delivered
event, and dead letters older than a day. Every record is made by the real code paths (a
redrive through the admin API, a partner that fails and recovers); only a dead letter's
age is written through the store."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from roi_harness import Partner, Running, running

from artery import Retry
from artery.observe import roi
from support import api_key, bearer, eventually

DAY = 86400.0


async def dead_letters(run: Running, count: int) -> None:
    await eventually(lambda: _buried(run, count), f"{count} dead letters")


async def _buried(run: Running, count: int) -> bool:
    return len(await run.app.dead_letters.list()) == count


async def settled(run: Running, check: Any, what: str) -> dict[str, Any]:
    """The report once ``check(report)`` holds (records are written once a second)."""
    found: dict[str, Any] = {}

    async def holds() -> bool:
        found.update(await run.report())
        return bool(check(found))

    await eventually(holds, what)
    return found


async def test_a_redrive_through_the_admin_api_is_an_intervention_per_1000_events(
    store_url: str,
) -> None:
    async with running(store_url, Partner(down=True)) as run:
        for n in range(3):
            await run.app.publish("orders", {"n": n})
        await dead_letters(run, 3)
        run.erp.down = False
        first = (await run.admin.get("/dead-letters")).json()[0]["id"]
        answer = await run.admin.post("/dead-letters/redrive", json={"ids": [first]})
        assert answer.json() == {"redriven": 1}
        await eventually(lambda: run.erp.handled == [0], "the redriven order delivered")
        report = await settled(
            run, lambda r: r["events"] == {"delivered": 1, "dead": 3, "total": 4}, "4 events"
        )
        assert await run.interventions() == [
            ("redrive", "erp-sync", "tests", f"1 dead letter(s): {first}")
        ]
    done = report["interventions"]
    assert done["total"] == 1 and done["per_1000_events"] == 250.0
    by_kind = {k["kind"]: (k["interventions"], k["per_1000_events"]) for k in done["by_kind"]}
    assert by_kind == {
        "redrive": (1, 250.0), "signal": (0, 0.0), "resend": (0, 0.0), "replay": (0, 0.0)
    }  # fmt: skip
    assert done["by_integration"] == [
        {"integration": "erp-sync", "interventions": 1, "events": 4, "per_1000_events": 250.0}
    ]


async def test_a_partner_that_fails_then_recovers_gives_its_time_to_recovery(
    store_url: str,
) -> None:
    erp = Partner(down=True)
    async with running(store_url, erp, Retry(attempts=100, base="20ms", cap="50ms")) as run:
        published = time.time()
        await run.app.publish("orders", {"n": 1})
        report = await settled(run, lambda r: r["recovery"]["open"], "an open incident")
        seen_open = time.time()
        (incident,) = report["recovery"]["open"]
        assert (incident["partner"], incident["integration"]) == ("erp", "erp-sync")
        assert 0 < incident["age_seconds"] <= seen_open - published
        assert report["recovery"]["partners"] == []  # nothing has recovered yet
        await asyncio.sleep(0.3)  # the partner stays down, the retries keep failing
        erp.down = False
        mended = time.time()
        await eventually(lambda: erp.handled == [1], "the order delivered after the fix")
        delivered = time.time()
        report = await settled(run, lambda r: r["recovery"]["partners"], "a recovery")
    (partner,) = report["recovery"]["partners"]
    assert partner["partner"] == "erp" and partner["integrations"] == ["erp-sync"]
    assert partner["recovered"] == 1
    # from the first failed attempt (before the incident was seen) to the success (after
    # the fix): at least the time it was seen down, at most publish to delivery
    assert mended - seen_open <= partner["mean_seconds"] <= delivered - published
    assert partner["longest_seconds"] == partner["mean_seconds"]
    assert report["recovery"]["open"] == []


async def test_time_to_first_delivered_event_and_integrations_still_waiting(
    store_url: str,
) -> None:
    started = time.time()
    async with running(store_url, Partner()) as run:
        await run.app.publish("orders", {"n": 1})
        report = await settled(
            run,
            lambda r: any(o["first_delivered_at"] for o in r["onboarding"]),
            "erp-sync's first delivery on record",
        )
    elapsed = time.time() - started
    onboarding = {o["integration"]: o for o in report["onboarding"]}
    erp, crm = onboarding["erp-sync"], onboarding["crm-sync"]
    assert 0 <= erp["seconds"] <= elapsed and erp["waiting_seconds"] is None
    assert erp["declared_at"] <= erp["first_delivered_at"]
    assert crm["first_delivered_at"] is None and crm["seconds"] is None
    assert 0 < crm["waiting_seconds"] <= elapsed


async def test_dead_letters_older_than_a_day_count_until_redriven(store_url: str) -> None:
    async with running(store_url, Partner(down=True)) as run:
        for n in range(3):
            await run.app.publish("orders", {"n": n})
        await dead_letters(run, 3)
        fresh = await run.report()
        assert fresh["stale_dead_letters"] == []
        old, older, _ = [letter.id for letter in await run.app.dead_letters.list()]
        aged = {old: time.time() - 2 * DAY, older: time.time() - 3 * DAY}
        await run.app.store.write(
            lambda tx: tx.executemany(
                "UPDATE dead_letters SET created_at = ? WHERE id = ?",
                [(int(at * 1e6), i) for i, at in aged.items()],
            )
        )
        (stale,) = (await run.report())["stale_dead_letters"]
        assert stale["integration"] == "erp-sync" and stale["count"] == 2
        assert 3 * DAY <= stale["oldest_age_seconds"] < 3 * DAY + 60
        await run.admin.post("/dead-letters/redrive", json={"ids": [old, older]})
        assert (await run.report())["stale_dead_letters"] == []


async def test_the_window_leaves_out_what_happened_before_it(store_url: str) -> None:
    async with running(store_url, Partner(down=True)) as run:
        await run.app.publish("orders", {"n": 1})
        await dead_letters(run, 1)
        await run.admin.post("/dead-letters/redrive", json={"group": "erp"})
        await settled(
            run,
            lambda r: r["interventions"]["total"] == 1 and r["events"]["dead"] >= 1,
            "the dead letter and the redrive on record",
        )
        later = time.time() + 3600
        report = await roi.report(run.app.store, since=60, now=later)
    assert report.events.total == 0 and report.interventions.total == 0
    assert report.interventions.per_1000_events is None  # no events: no rate, not zero
    assert report.since < report.until and report.window_seconds == 60


# -- the admin route ----------------------------------------------------------------------


@pytest.fixture
async def idle(sqlite_url: str) -> Any:
    async with running(sqlite_url, Partner()) as run:
        yield run


async def test_the_report_route_needs_a_credential_with_admin_read(idle: Running) -> None:
    assert idle.app.http is not None
    base = idle.app.http.url + "/admin/report"
    async with httpx.AsyncClient() as http:
        assert (await http.get(base)).status_code == 401
        writer = await api_key(idle.app, "metrics:read", name="grafana")
        refused = await http.get(base, headers=bearer(writer))
        assert refused.status_code == 403 and "admin:read" in refused.json()["detail"]
        reader = await api_key(idle.app, "admin:read", name="reader")
        answer = await http.get(base, params={"since": "7d"}, headers=bearer(reader))
    assert answer.status_code == 200, answer.text
    assert answer.json()["window_seconds"] == 7 * DAY


@pytest.mark.parametrize("since", ["soon", "0", "-3d", "7 days"])
async def test_a_bad_since_is_a_400_problem_naming_the_parameter(idle: Running, since: str) -> None:
    answer = await idle.admin.get("/report", params={"since": since})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["detail"] == f"since {since!r} is not a window of time"
    assert "7d" in problem["fix"]


async def test_an_unknown_query_parameter_is_refused(idle: Running) -> None:
    answer = await idle.admin.get("/report", params={"sinse": "7d"})
    assert answer.status_code == 400 and "sinse" in answer.json()["detail"]
