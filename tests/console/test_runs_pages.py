"""The workflow run pages: the list and its filters, "waiting for me" with approve and
reject (the run completes with the decision), a run's timeline, cancel and retry, each
audited, and what a read-only viewer may not do."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from console_harness import READ, Console, csrf_of, serving

from artery.errors import WorkflowError
from artery.govern import audit
from artery.workflows import Status
from support import eventually

RUN_LINK = re.compile(r'<td><a href="/console/runs/([^"]+)">')


async def started(console: Console, *ids: str, status: Status = Status.WAITING) -> None:
    """Start a fulfil run per id and wait until each is ``status``."""
    for run_id in ids:
        await console.app.workflows.start("fulfil", {"order_id": run_id}, id=run_id)
    for run_id in ids:

        async def there(run_id: str = run_id) -> bool:
            return await console.app.workflows.handle(run_id).status() is status

        await eventually(there, f"run {run_id} to be {status}")


async def actions(console: Console) -> list[dict[str, Any]]:
    """The console's audit entries other than signing in, newest first."""
    found = await audit.entries(console.app.store, channel="console")
    return [entry for entry in found if entry["action"] != "sign-in"]


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return RUN_LINK.findall(page.text)


async def test_the_list_is_newest_first_and_filtered(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        await started(c, "order-1")
        await started(c, "order-2")
        assert listed(await web.get("/console/runs")) == ["order-2", "order-1"]
        for query, expected in [
            ({"workflow": "fulfil", "status": "waiting"}, ["order-2", "order-1"]),
            ({"status": "completed"}, []),
            ({"workflow": "refund"}, []),
            ({"limit": "1"}, ["order-2"]),
        ]:
            assert listed(await web.get("/console/runs", params=query)) == expected
        bad = await web.get("/console/runs", params={"status": "stuck"})
        assert bad.status_code == 400 and "unknown status" in bad.text and "waiting" in bad.text


async def test_approving_a_waiting_run_completes_it_on_the_record(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        await started(c, "order-1", "order-2")
        waiting = await web.get("/console/runs/waiting")
        assert listed(waiting) == ["order-1", "order-2"]
        assert "manager-approval" in waiting.text and "Approve</button>" in waiting.text
        form = {
            "csrf": csrf_of(waiting.text),
            "name": "manager-approval",
            "decision": "approve",
            "from": "waiting",
        }
        answer = await web.post("/console/runs/order-1/signal", data=form)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/runs/waiting"
        assert "Sent approve" in (await web.get("/console/runs/waiting")).text
        assert await c.app.workflows.handle("order-1").result(timeout=10) == {"approved": True}
        assert listed(await web.get("/console/runs/waiting")) == ["order-2"]
        (entry,) = await actions(c)
        assert (entry["action"], entry["target"], entry["integration"]) == (
            "approve",
            "order-1",
            "shop-sync",
        )
        assert entry["detail"] == "signal 'manager-approval'"
        noted = await c.app.store.read(
            lambda tx: tx.execute("SELECT kind, actor FROM interventions")
        )
        assert [tuple(row) for row in noted] == [("signal", "ops")]
        again = await web.post("/console/runs/order-1/signal", data=form)
        assert again.status_code == 409 and "not waiting for signal" in again.text


async def test_a_run_page_shows_its_timeline_and_rejecting_ends_it(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        await started(c, "shop/order-3")  # a run id holding a slash
        page = await web.get("/console/runs/shop/order-3")
        assert page.status_code == 200
        shown = html.unescape(page.text)
        assert "Step reserve" in shown and "reserved shop/order-3" in shown
        assert re.search(r'<li class="waiting">\s*<strong>\s*Signal <code>manager-approval', shown)
        assert ">Approve</button>" in shown and ">Reject</button>" in shown
        assert ">Retry</button>" not in shown  # only a failed run is retried
        form = {"csrf": csrf_of(page.text), "name": "manager-approval", "decision": "reject"}
        answer = await web.post("/console/runs/shop/order-3/signal", data=form)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/runs/shop/order-3"
        handle = c.app.workflows.handle("shop/order-3")
        assert await handle.result(timeout=10) == {"approved": False}
        after = html.unescape((await web.get(answer.headers["location"])).text)
        assert "Sent reject" in after and 'received <code>"reject"</code>' in after
        assert ">Approve</button>" not in after and "Cancel run" not in after


async def test_a_decision_must_be_approve_or_reject(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        await started(c, "order-1")
        page = await web.get("/console/runs/order-1")
        form = {"csrf": csrf_of(page.text), "name": "manager-approval", "decision": "maybe"}
        refused = await web.post("/console/runs/order-1/signal", data=form)
        assert refused.status_code == 400 and "neither approve nor reject" in refused.text
        assert await c.app.workflows.handle("order-1").status() is Status.WAITING


async def test_cancelling_a_waiting_run_ends_it_cancelled(store_url: str) -> None:
    async with serving(store_url) as c, c.signed_in() as web:
        await started(c, "order-1")
        page = await web.get("/console/runs/order-1")
        assert "Cancel run</button>" in page.text
        answer = await web.post("/console/runs/order-1/cancel", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303
        with pytest.raises(WorkflowError) as ended:
            await c.app.workflows.handle("order-1").result(timeout=10)
        assert ended.value.status == "cancelled"
        (entry,) = await actions(c)
        assert (entry["action"], entry["target"]) == ("cancel", "order-1")
        again = await web.post("/console/runs/order-1/cancel", data={"csrf": csrf_of(page.text)})
        assert again.status_code == 409 and "already ended cancelled" in again.text


async def test_a_failed_run_can_be_retried(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        await c.app.workflows.start("fulfil", "not an order", id="broken")  # reserve() fails
        await eventually(
            lambda: _status_is(c, "broken", Status.FAILED), "the run to fail", timeout=10
        )
        page = await web.get("/console/runs/broken")
        assert "builtins.AttributeError" in page.text and ">Retry</button>" in page.text
        before = (await c.app.workflows.get("broken")).updated_at
        answer = await web.post("/console/runs/broken/retry", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303
        assert "Retrying" in (await web.get(answer.headers["location"])).text

        async def failed_again() -> bool:
            run = await c.app.workflows.get("broken")
            return run.status is Status.FAILED and run.updated_at > before

        await eventually(failed_again, "the retried run to fail again")
        (entry,) = await actions(c)
        assert (entry["action"], entry["target"]) == ("retry", "broken")
        waiting = await web.post("/console/runs/broken/retry", data={"csrf": csrf_of(page.text)})
        assert waiting.status_code == 303  # failed again: it may be retried again


async def _status_is(console: Console, run_id: str, status: Status) -> bool:
    return await console.app.workflows.handle(run_id).status() is status


async def test_an_unknown_run_is_a_not_found_page(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in() as web:
        page = await web.get("/console/runs/no/such-run")
        assert page.status_code == 404 and "does not exist" in page.text
        csrf = csrf_of(page.text)
        cancel = await web.post("/console/runs/no/such-run/cancel", data={"csrf": csrf})
        assert cancel.status_code == 404


async def test_a_read_only_viewer_sees_no_decisions_and_may_make_none(sqlite_url: str) -> None:
    async with serving(sqlite_url) as c, c.signed_in(*READ, name="viewer") as web:
        await started(c, "order-1")
        waiting = await web.get("/console/runs/waiting")
        assert listed(waiting) == ["order-1"] and "manager-approval" in waiting.text
        assert "Approve</button>" not in waiting.text and "/signal" not in waiting.text
        page = await web.get("/console/runs/order-1")
        assert ">Approve</button>" not in page.text and "Cancel run" not in page.text
        csrf = csrf_of(page.text)
        form = {"csrf": csrf, "name": "manager-approval", "decision": "approve"}
        assert (await web.post("/console/runs/order-1/signal", data=form)).status_code == 403
        assert (
            await web.post("/console/runs/order-1/cancel", data={"csrf": csrf})
        ).status_code == 403
        assert await c.app.workflows.handle("order-1").status() is Status.WAITING
