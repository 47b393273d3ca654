"""Process roles: each starts a defined set of services. A worker consumes and runs
workflows but serves no HTTP; a gateway serves HTTP and consumes nothing; ``run`` does
both; an app opened with no role (for tools) runs nothing."""

from __future__ import annotations

import pytest

from artery import (
    App,
    ConfigError,
    DeliveryContext,
    Event,
    Listen,
    Role,
    WorkerOptions,
    WorkflowOptions,
)
from artery.workflows import Status
from support import admin_client, eventually

ORDER = {"type": "object"}
FREE = Listen("127.0.0.1", 0)


def shop(store_url: str, handled: list[int]) -> App:
    app = App("shop", store=store_url, worker=WorkerOptions(poll_interval=0.02))
    orders = app.contract("orders", schema=ORDER, partitions=2)

    @app.consumer(orders, group="erp")
    async def post(event: Event, ctx: DeliveryContext) -> None:
        handled.append(event.data["n"])

    @app.workflow()
    async def settle(ctx: object, n: int) -> int:
        return n

    return app


async def test_a_worker_consumes_and_runs_workflows_but_serves_no_http(sqlite_url: str) -> None:
    handled: list[int] = []
    app = shop(sqlite_url, handled)
    async with app.running(Role.WORKER):
        assert app.http is None
        await app.publish("orders", {"n": 1})
        await eventually(lambda: handled == [1], "the worker to handle the order")
        assert await (await app.start_workflow("settle", 7)).result(timeout=10) == 7


async def test_a_gateway_serves_the_admin_api_and_consumes_nothing(store_url: str) -> None:
    handled: list[int] = []
    app = shop(store_url, handled)
    async with app.running("gateway", listen=FREE):
        assert app.http is not None
        await app.publish("orders", {"n": 1})
        handle = await app.start_workflow("settle", 7)
        async with await admin_client(app, app.http.url) as http:
            consumers = (await http.get("/admin/consumers")).json()
            unknown = await http.get("/nothing")
        assert [(c["group"], c["lag"]) for c in consumers] == [("erp", 0)]
        assert unknown.headers["content-type"] == "application/problem+json"
        assert await app.log.positions() == [], "no worker joined the group"
        assert await handle.status() is Status.PENDING, "no engine runs here"
    assert handled == []


async def test_run_is_worker_and_gateway_in_one_process(sqlite_url: str) -> None:
    handled: list[int] = []
    app = shop(sqlite_url, handled)
    async with app.running("run", listen=FREE):
        assert app.http is not None
        await app.publish("orders", {"n": 3})
        await eventually(lambda: handled == [3], "the worker to handle the order")
        async with await admin_client(app, app.http.url) as http:
            (consumer,) = (await http.get("/admin/consumers")).json()
        assert consumer["group"] == "erp"


async def test_no_role_opens_the_app_for_tools_and_runs_nothing(sqlite_url: str) -> None:
    handled: list[int] = []
    app = shop(sqlite_url, handled)
    async with app.running(None):
        assert app.http is None
        await app.publish("orders", {"n": 1})
        handle = await app.start_workflow("settle", 1)
        assert await app.log.positions() == []
        assert await handle.status() is Status.PENDING
    assert handled == []


async def test_an_unknown_role_is_refused_naming_the_known_ones(sqlite_url: str) -> None:
    app = App("shop", store=sqlite_url)
    with pytest.raises(ConfigError, match="unknown role 'workers'") as raised:
        await app.start("workers")
    assert raised.value.fix == "use one of: run, worker, gateway"


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: WorkerOptions(lease_ttl=0), "lease_ttl=0"),
        (lambda: WorkerOptions(poll_interval=-1), "poll_interval=-1"),
        (lambda: WorkerOptions(grace=-1), "grace=-1"),
        (lambda: WorkerOptions(retry_poll="fast"), "retry_poll='fast'"),
        (lambda: WorkflowOptions(concurrency=0), "concurrency=0"),
        (lambda: WorkflowOptions(concurrency=2.5), "concurrency=2.5"),
        (lambda: WorkflowOptions(poll_interval=0), "poll_interval=0"),
    ],
)
def test_bad_tuning_is_refused_naming_the_option(build: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")) as raised:
        build()  # type: ignore[operator]
    assert raised.value.fix


async def test_tuning_given_as_a_dict_is_refused_naming_the_typed_value(sqlite_url: str) -> None:
    app = App("shop", store=sqlite_url)
    app.worker_options = {"lease_ttl": 2.0}  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"app\.worker_options is a dict") as raised:
        await app.start()
    assert raised.value.fix and "WorkerOptions(" in raised.value.fix


async def test_a_handler_reaching_for_the_app_is_told_what_to_use(sqlite_url: str) -> None:
    app = App("shop", store=sqlite_url, worker=WorkerOptions(poll_interval=0.02))
    errors: list[str] = []

    @app.consumer(app.contract("orders", schema=ORDER), group="erp")
    async def post(event: Event, ctx: DeliveryContext) -> None:
        try:
            ctx.app  # noqa: B018
        except ConfigError as exc:
            errors.append(exc.fix or "")

    async with app.running():
        await app.publish("orders", {"n": 1})
        await eventually(lambda: len(errors) == 1, "the handler to run")
    assert "ctx.publish" in errors[0] and "ctx.start_workflow" in errors[0]
