"""A run records the integration that declared its workflow, however it was started (by
hand, by an event, by a schedule, as a child); runs started before integrations were
recorded list with none."""

from __future__ import annotations

from workflow_helpers import make_app, status_is

from artery import App, DeliveryContext, Event, Integration, WorkflowContext
from artery.config import Settings
from artery.runtime import open_runtime
from artery.workflows import Status, Workflows
from previous_release import OLD_RUN, previous_store
from support import eventually

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def declare(store_url: str) -> App:
    """``workflow-test`` declares ``settle``; ``erp-sync`` declares ``post`` (started on every
    order), ``nightly`` (a schedule) and ``batch``, whose children are the app's ``settle``."""
    app = make_app(store_url)
    erp = Integration("erp-sync", owner="team-finance")
    orders = erp.contract("orders", schema=ORDER)

    @app.workflow()
    async def settle(ctx: WorkflowContext, amount: int) -> int:
        return amount

    @erp.workflow(on=orders)
    async def post(ctx: WorkflowContext, order: dict[str, int]) -> int:
        return order["n"]

    @erp.workflow()
    async def batch(ctx: WorkflowContext, amounts: list[int]) -> list[int]:
        return [await ctx.child("settle", amount) for amount in amounts]

    @erp.schedule(every="200ms", name="nightly")
    async def nightly(ctx: WorkflowContext, _: None) -> None:
        return None

    app.include(erp)
    return app


async def test_runs_record_the_integration_of_their_workflow_and_filter_by_it(
    store_url: str,
) -> None:
    app = declare(store_url)
    async with app.running():
        batch = await app.start_workflow("batch", [1, 2], id="batch-1")
        assert await batch.result(timeout=10) == [1, 2]
        event = await app.publish("orders", {"n": 7})
        posted = f"post:{event.id}"
        await eventually(lambda: status_is(app, posted, Status.COMPLETED), "the run per order")

        async def scheduled() -> bool:
            return bool(await app.workflows.list(workflow="nightly"))

        await eventually(scheduled, "a scheduled run")
        runs = {run.run_id: run for run in await app.workflows.list()}
        erp_runs = await app.workflows.list(integration="erp-sync")
        app_runs = await app.workflows.list(integration="workflow-test")
        nobody = await app.workflows.list(integration="crm-sync")
    assert runs["batch-1"].integration == "erp-sync"
    assert runs[posted].integration == "erp-sync"
    (tick, *_) = [run for run in runs.values() if run.workflow == "nightly"]
    assert tick.integration == "erp-sync" and tick.started_by == "schedule"
    # a child records the integration that declared its own workflow, not its parent's
    assert {runs["batch-1/0"].integration, runs["batch-1/1"].integration} == {"workflow-test"}
    assert {run.workflow for run in erp_runs} == {"batch", "post", "nightly"}
    assert sorted(run.run_id for run in app_runs) == ["batch-1/0", "batch-1/1"]
    assert nobody == []


async def test_a_run_started_on_an_integrations_handlers_context_records_it(
    sqlite_url: str,
) -> None:
    app = make_app(sqlite_url)
    erp = Integration("erp-sync", owner="team-finance")
    orders = erp.contract("orders", schema=ORDER)

    @erp.workflow()
    async def remind(ctx: WorkflowContext, n: int) -> int:
        return n

    @app.consumer(orders, group="reminders")
    async def ask(event: Event, ctx: DeliveryContext) -> None:
        await ctx.start_workflow("remind", event.data["n"], id=f"remind-{event.id}")

    app.include(erp)
    async with app.running():
        event = await app.publish("orders", {"n": 3})

        async def started() -> bool:
            return bool(await app.workflows.list(workflow="remind"))

        await eventually(started, "the run the handler started")
        (run,) = await app.workflows.list(workflow="remind")
    assert run.run_id == f"remind-{event.id}" and run.integration == "erp-sync"


async def test_runs_started_before_integrations_were_recorded_still_list(
    store_url: str,
) -> None:
    await previous_store(store_url)
    async with open_runtime(Settings(store=store_url)) as runtime:
        runs = Workflows({}, runtime, None)  # store-only, as the CLI operates
        (old,) = await runs.list()
        assert old.run_id == OLD_RUN and old.status is Status.COMPLETED
        assert old.integration is None and old.result == 3
        assert await runs.list(integration="workflow-test") == []
        assert (await runs.get(OLD_RUN)).integration is None
