"""The admin API for workflows, over real HTTP: start, list, show (timed steps, redacted
input), signal, cancel, retry, and problem+json for unknown runs and refused actions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from artery import App, Integration, WorkflowContext, WorkflowOptions
from artery.gateway.server import Listen
from previous_release import OLD_RUN, previous_store
from support import admin_client, eventually

PROBLEM = "application/problem+json"
EMAIL = "carol@example.com"
REQUEST = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "minimum": 1},
        "email": {"type": "string", "x-artery-classification": "pii"},
    },
    "required": ["amount"],
}


@dataclass
class Partner:
    """What the workflows' steps call: records effects; ``broken`` fails ``charge``."""

    broken: bool = False
    released: list[str] = field(default_factory=list)
    charged: list[int] = field(default_factory=list)


@dataclass
class Served:
    app: App
    partner: Partner
    http: httpx.AsyncClient

    async def start(self, workflow: str, input: Any = None, **extra: Any) -> str:
        response = await self.http.post(
            "/workflows/runs", json={"workflow": workflow, "input": input, **extra}
        )
        assert response.status_code == 201, response.text
        run_id: str = response.json()["run_id"]
        return run_id

    async def detail(self, run_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/workflows/runs/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def reaches(self, run_id: str, status: str) -> dict[str, Any]:
        async def there() -> bool:
            return bool((await self.detail(run_id))["run"]["status"] == status)

        await eventually(there, f"run {run_id} {status}")
        return await self.detail(run_id)


def declare(store_url: str, partner: Partner) -> App:
    app = App("workflow-admin-test", store=store_url)
    app.workflow_options = WorkflowOptions(lease_ttl=2.0, poll_interval=0.05)
    app.contract("refund.request", schema=REQUEST)

    async def hold(amount: int) -> str:
        return f"hold-{amount}"

    async def release(hold_id: str, amount: int) -> None:
        partner.released.append(hold_id)

    async def charge(amount: int) -> int:
        if partner.broken:
            raise ConnectionError("payments API down")
        partner.charged.append(amount)
        return amount

    @app.workflow(input="refund.request")
    async def refund(ctx: WorkflowContext, request: dict[str, Any]) -> str:
        await ctx.step(hold, request["amount"], compensate=release)
        if request["amount"] > 1000:
            decision = await ctx.wait_for_signal("decision", timeout="1h")
            if decision != "approve":
                ctx.compensate()
        await ctx.step(charge, request["amount"])
        return f"refunded {request['amount']}"

    async def mail(email: str) -> dict[str, str]:
        return {"sent_to": email}

    async def bounce(email: str) -> None:
        raise ConnectionError(f"mailbox {email} is full")

    @app.workflow(input="refund.request")
    async def notify(ctx: WorkflowContext, request: dict[str, Any]) -> None:
        await ctx.step(mail, request["email"])
        await ctx.step(bounce, request["email"])

    @app.workflow()
    async def settle(ctx: WorkflowContext, amount: int) -> int:
        result: int = await ctx.step(charge, amount)
        return result

    @app.workflow()
    async def batch(ctx: WorkflowContext, amounts: list[int]) -> list[int]:
        return [await ctx.child("settle", amount) for amount in amounts]

    return app


@pytest.fixture
async def served(store_url: str) -> AsyncIterator[Served]:
    partner = Partner()
    app = declare(store_url, partner)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        async with await admin_client(app, app.http.url + "/admin") as http:
            yield Served(app, partner, http)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["fix"]
    assert body["type"] == f"https://artery.dev/problems/{code}"
    return body


# -- on both stores -------------------------------------------------------------------------


async def test_run_started_over_http_completes_and_shows_timed_steps(served: Served) -> None:
    response = await served.http.post(
        "/workflows/runs",
        json={"workflow": "refund", "input": {"amount": 40, "email": EMAIL}, "id": "r-40"},
    )
    assert response.status_code == 201 and response.json() == {"run_id": "r-40"}
    assert response.headers["location"].endswith("/admin/workflows/runs/r-40")
    detail = await served.reaches("r-40", "completed")
    run = detail["run"]
    assert run["result"] == "refunded 40" and run["error"] is None
    assert run["started_by"] == "admin" and run["workflow"] == "refund"
    assert [(s["kind"], s["status"], s["attempts"]) for s in detail["steps"]] == [
        ("step", "completed", 1),
        ("step", "completed", 1),
    ]
    assert [s["result"] for s in detail["steps"]] == ["hold-40", 40]
    for step in detail["steps"]:
        assert step["started_at"] <= step["finished_at"] and step["duration"] >= 0
        assert abs(step["started_at"] - time.time()) < 60, "times are seconds since the epoch"
    assert detail["compensations"] == []
    assert served.partner.charged == [40]


async def test_detail_scrubs_classified_input_values_from_step_results_and_errors(
    served: Served,
) -> None:
    run_id = await served.start("notify", {"amount": 1, "email": EMAIL})
    detail = await served.reaches(run_id, "failed")
    mailed, bounced = detail["steps"]
    assert mailed["result"] == {"sent_to": "[redacted]"}
    assert bounced["error"]["message"] == "mailbox [redacted] is full"
    assert detail["run"]["error"]["message"].count("[redacted]") >= 1
    response = await served.http.get(f"/workflows/runs/{run_id}")
    assert EMAIL not in response.text


async def test_detail_redacts_classified_input_and_listing_has_no_inputs(served: Served) -> None:
    run_id = await served.start("refund", {"amount": 7, "email": EMAIL})
    detail = await served.reaches(run_id, "completed")
    assert detail["run"]["input"] == {"amount": 7, "email": "[redacted]"}
    assert detail["redacted"] == ["/email"]
    listing = await served.http.get("/workflows/runs")
    assert listing.status_code == 200 and EMAIL not in listing.text
    (row,) = listing.json()
    assert row["run_id"] == run_id and "input" not in row and "result" not in row
    assert row["integration"] == "workflow-admin-test"  # the app is its own integration
    assert set(row) == {
        "run_id",
        "workflow",
        "integration",
        "status",
        "flagged",
        "started_by",
        "parent_run",
        "created_at",
        "updated_at",
    }


async def test_waiting_run_completes_after_a_signal_over_http(served: Served) -> None:
    run_id = await served.start("refund", {"amount": 5000})
    await served.reaches(run_id, "waiting")
    response = await served.http.post(f"/workflows/runs/{run_id}/signals/decision", json="approve")
    assert response.status_code == 202, response.text
    detail = await served.reaches(run_id, "completed")
    assert detail["run"]["result"] == "refunded 5000"
    signal = detail["steps"][1]
    assert (signal["kind"], signal["name"], signal["result"]) == (
        "signal",
        "decision",
        {"payload": "approve"},
    )


async def test_cancel_over_http_compensates_and_ends_cancelled(served: Served) -> None:
    run_id = await served.start("refund", {"amount": 9000})
    await served.reaches(run_id, "waiting")
    response = await served.http.post(f"/workflows/runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    detail = await served.reaches(run_id, "cancelled")
    assert served.partner.released == ["hold-9000"] and served.partner.charged == []
    (undo,) = detail["compensations"]
    assert undo["kind"] == "compensation" and undo["status"] == "completed"
    assert undo["name"].endswith("release") and undo["duration"] >= 0


async def test_failed_run_retried_over_http_completes(served: Served) -> None:
    served.partner.broken = True
    run_id = await served.start("settle", 12)
    failed = await served.reaches(run_id, "failed")
    assert failed["run"]["flagged"] and "payments API down" in failed["run"]["error"]["message"]
    (step,) = failed["steps"]
    assert step["status"] == "failed" and step["error"]["type"].endswith("ConnectionError")
    flagged = (await served.http.get("/workflows/runs", params={"flagged": "true"})).json()
    assert [row["run_id"] for row in flagged] == [run_id]
    served.partner.broken = False
    response = await served.http.post(f"/workflows/runs/{run_id}/retry")
    assert response.status_code == 202, response.text
    detail = await served.reaches(run_id, "completed")
    assert detail["run"]["result"] == 12 and not detail["run"]["flagged"]


async def test_unknown_run_is_a_404_problem_for_every_route(served: Served) -> None:
    base = "/workflows/runs/no-such-run"
    for response in (
        await served.http.get(base),
        await served.http.post(f"{base}/signals/go", json=1),
        await served.http.post(f"{base}/cancel"),
        await served.http.post(f"{base}/retry"),
    ):
        body = assert_problem(response, 404, "artery.not-found")
        assert "no-such-run" in body["detail"]


async def test_actions_a_finished_run_cannot_take_are_409_problems(served: Served) -> None:
    run_id = await served.start("settle", 3)
    await served.reaches(run_id, "completed")
    signal = await served.http.post(f"/workflows/runs/{run_id}/signals/go", json={"x": 1})
    assert "takes no more signals" in assert_problem(signal, 409, "artery.conflict")["detail"]
    cancel = await served.http.post(f"/workflows/runs/{run_id}/cancel")
    assert "already ended completed" in assert_problem(cancel, 409, "artery.conflict")["detail"]
    retry = await served.http.post(f"/workflows/runs/{run_id}/retry")
    assert "not failed" in assert_problem(retry, 409, "artery.conflict")["detail"]


# -- errors, filters and child runs (SQLite is enough) --------------------------------------


@pytest.fixture
async def lite(sqlite_url: str) -> AsyncIterator[Served]:
    partner = Partner()
    app = declare(sqlite_url, partner)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        async with await admin_client(app, app.http.url + "/admin") as http:
            yield Served(app, partner, http)


async def test_starting_an_undeclared_workflow_is_a_404_problem(lite: Served) -> None:
    response = await lite.http.post("/workflows/runs", json={"workflow": "refnud"})
    body = assert_problem(response, 404, "artery.unknown-workflow")
    assert "refnud" in body["detail"] and "refund" in body["fix"]
    assert (await lite.http.get("/workflows/runs")).json() == []


async def test_input_violating_the_contract_is_a_422_problem_listing_violations(
    lite: Served,
) -> None:
    response = await lite.http.post(
        "/workflows/runs", json={"workflow": "refund", "input": {"amount": 0, "email": 5}}
    )
    body = assert_problem(response, 422, "artery.contract-violation")
    assert body["subject"] == "refund.request" and body["version"] == 1
    assert sorted(v["pointer"] for v in body["violations"]) == ["/amount", "/email"]
    assert {v["keyword"] for v in body["violations"]} == {"minimum", "type"}
    assert (await lite.http.get("/workflows/runs")).json() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"workflow": "settle", "inptu": 1}, "inptu"),
        ({"input": 1}, "field workflow"),
        ({"workflow": "settle", "id": 7}, "field id"),
        ([1, 2], "not an object"),
    ],
)
async def test_malformed_start_body_is_a_400_problem(lite: Served, body: Any, message: str) -> None:
    response = await lite.http.post("/workflows/runs", json=body)
    assert message in assert_problem(response, 400, "artery.config")["detail"]


async def test_malformed_signal_payload_is_a_400_problem(lite: Served) -> None:
    run_id = await lite.start("refund", {"amount": 2000})
    await lite.reaches(run_id, "waiting")
    response = await lite.http.post(
        f"/workflows/runs/{run_id}/signals/decision",
        content=b'{"oops": ',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in assert_problem(response, 400, "artery.config")["detail"]
    assert (await lite.detail(run_id))["run"]["status"] == "waiting"


async def test_list_filters_by_workflow_status_and_limit(lite: Served) -> None:
    done = await lite.start("settle", 1)
    await lite.reaches(done, "completed")
    waiting = await lite.start("refund", {"amount": 3000})
    await lite.reaches(waiting, "waiting")

    async def ids(**params: str) -> list[str]:
        response = await lite.http.get("/workflows/runs", params=params)
        assert response.status_code == 200, response.text
        return [row["run_id"] for row in response.json()]

    assert await ids() == [waiting, done]
    assert await ids(workflow="settle") == [done]
    assert await ids(status="waiting") == [waiting]
    assert await ids(limit="1") == [waiting]
    assert await ids(flagged="false") == [waiting, done]
    assert await ids(flagged="true") == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleepy"},
        {"limit": "0"},
        {"flagged": "maybe"},
        {"state": "done"},
        {"integrations": "erp-sync"},
    ],
)
async def test_bad_list_query_is_a_400_problem(lite: Served, params: dict[str, str]) -> None:
    assert_problem(await lite.http.get("/workflows/runs", params=params), 400, "artery.config")


async def test_runs_name_their_integration_and_filter_by_it(sqlite_url: str) -> None:
    partner = Partner()
    app = declare(sqlite_url, partner)
    erp = Integration("erp-sync", owner="team-finance")

    @erp.workflow()
    async def post(ctx: WorkflowContext, n: int) -> int:
        return n

    app.include(erp)
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        async with await admin_client(app, app.http.url + "/admin") as http:
            served = Served(app, partner, http)
            posted, settled = await served.start("post", 1), await served.start("settle", 2)
            detail = await served.reaches(posted, "completed")
            await served.reaches(settled, "completed")

            async def listed(integration: str) -> list[tuple[str, str]]:
                response = await http.get("/workflows/runs", params={"integration": integration})
                assert response.status_code == 200, response.text
                return [(row["run_id"], row["integration"]) for row in response.json()]

            assert await listed("erp-sync") == [(posted, "erp-sync")]
            assert await listed("workflow-admin-test") == [(settled, "workflow-admin-test")]
            assert await listed("crm-sync") == []
    assert detail["run"]["integration"] == "erp-sync"


async def test_runs_started_before_integrations_list_with_a_null_one(sqlite_url: str) -> None:
    await previous_store(sqlite_url)
    app = declare(sqlite_url, Partner())
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        http = await admin_client(app, app.http.url + "/admin")
        async with http:
            (row,) = (await http.get("/workflows/runs")).json()
            detail = (await http.get(f"/workflows/runs/{OLD_RUN}")).json()
            only = await http.get("/workflows/runs", params={"integration": "workflow-admin-test"})
    assert row["run_id"] == OLD_RUN and row["integration"] is None
    assert detail["run"]["integration"] is None and only.json() == []


async def test_child_runs_with_a_slash_in_their_id_can_be_shown(lite: Served) -> None:
    parent = await lite.start("batch", [4, 5])
    detail = await lite.reaches(parent, "completed")
    assert detail["run"]["result"] == [4, 5]
    children = [row for row in (await lite.http.get("/workflows/runs")).json() if row["parent_run"]]
    assert sorted(row["run_id"] for row in children) == [f"{parent}/0", f"{parent}/1"]
    child = await lite.detail(f"{parent}/1")
    assert child["run"]["parent_run"] == parent and child["run"]["result"] == 5
    assert child["run"]["input"] == 5, "a workflow without an input contract shows its input"


def deep_body(field: str, levels: int = 300) -> bytes:
    """A JSON body whose ``field`` is nested ``levels`` arrays deep (json.dumps would refuse)."""
    return b'{"workflow": "settle", "%s": ' % field.encode() + b"[" * levels + b"]" * levels + b"}"


async def test_input_nested_too_deep_is_a_400_problem_not_a_500(served: Served) -> None:
    response = await served.http.post(
        "/workflows/runs", content=deep_body("input"), headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "artery.invalid-event")
    assert "nested deeper than 254 levels" in body["detail"]
    signal = await served.http.post(
        "/workflows/runs/nope/signals/go",
        content=b"[" * 300 + b"]" * 300,
        headers={"content-type": "application/json"},
    )
    assert "nested deeper" in assert_problem(signal, 400, "artery.invalid-event")["detail"]
    assert (await served.http.get("/workflows/runs")).json() == []
