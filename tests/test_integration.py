"""Integrations group declarations under owners; an app includes them and runs them as if
they were declared on it, and everything they declare knows its integration."""

from __future__ import annotations

import pytest

from artery import App, ConfigError, DeliveryContext, Event, Integration, Permanent, Retry
from artery.delivery.dead_letters import DeadLetters
from artery.errors import NotFound
from artery.workflows import Status
from support import eventually

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def erp_sync() -> Integration:
    return Integration(
        "erp-sync",
        owner="team-finance",
        transport_owner="team-platform",
        purpose="post an invoice for every order",
        partners=["erp"],
        runbook="https://wiki.example/erp-sync",
    )


@pytest.mark.parametrize("owner", [None, "", "   "])
def test_an_integration_without_an_owner_is_refused(owner: str | None) -> None:
    with pytest.raises(ConfigError, match="integration 'erp-sync' has no owner") as raised:
        Integration("erp-sync", owner=owner)
    assert raised.value.fix and 'owner="team-x"' in raised.value.fix


def test_partners_given_as_one_string_are_refused_not_split_into_letters() -> None:
    with pytest.raises(ConfigError, match="must be a list") as raised:
        Integration("erp-sync", owner="team-finance", partners="erp")  # type: ignore[arg-type]
    assert raised.value.fix == 'write partners=["erp"]'


def test_transport_owner_defaults_to_the_owner() -> None:
    assert Integration("x", owner="team-a").transport_owner == "team-a"
    assert erp_sync().transport_owner == "team-platform"


def test_an_app_is_its_own_default_integration_and_may_have_no_owner() -> None:
    app = App("shop")
    orders = app.contract("orders", schema=ORDER)
    assert app.integrations == {"shop": app} and app.owner is None
    assert orders.integration == "shop"


def test_a_name_declared_by_two_integrations_is_refused_naming_both() -> None:
    app = App("shop")
    app.contract("orders", schema=ORDER)
    erp = erp_sync()
    erp.contract("orders", schema=ORDER)
    with pytest.raises(ConfigError, match="contract 'orders' is declared by both") as raised:
        app.include(erp)
    assert "'shop' and 'erp-sync'" in raised.value.message


def test_the_same_consumer_group_on_a_topic_in_two_integrations_is_refused() -> None:
    app, erp = App("shop"), erp_sync()

    async def handler(event: Event, ctx: DeliveryContext) -> None:
        pass

    app.consumer("orders", group="erp")(handler)
    erp.consumer("orders", group="erp")(handler)
    with pytest.raises(ConfigError, match="consumer of group 'erp' on 'orders'"):
        app.include(erp)


def test_two_integrations_with_one_name_are_refused() -> None:
    app = App("shop")
    app.include(erp_sync())
    with pytest.raises(ConfigError, match="two integrations are named 'erp-sync'"):
        app.include(erp_sync())


async def test_a_clash_declared_after_include_is_refused_at_start(sqlite_url: str) -> None:
    app, erp = App("shop", store=sqlite_url), erp_sync()
    app.include(erp)
    app.contract("orders", schema=ORDER)
    erp.contract("orders", schema=ORDER)
    with pytest.raises(ConfigError, match="declared by both"):
        await app.start()


async def test_an_included_integrations_consumer_and_workflow_run_and_know_it(
    store_url: str,
) -> None:
    app, erp = App("shop", store=store_url), erp_sync()
    orders = erp.contract("orders", schema=ORDER, owner="team-orders", partitions=2)
    seen: list[tuple[int, str | None]] = []

    @erp.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        seen.append((event.data["n"], ctx.integration))
        if event.data["n"] == 2:
            raise Permanent("the ERP refuses order 2")

    @erp.workflow(on=orders)
    async def archive(ctx: object, order: dict[str, int]) -> int:
        return order["n"] * 10

    app.include(erp)
    assert app.declared.consumers[("erp", "orders")].integration == "erp-sync"
    assert app.declared.workflows["archive"].integration == "erp-sync"
    async with app.running():
        events = [await app.publish("orders", {"n": n}, key=str(n)) for n in range(3)]

        async def dead_lettered() -> bool:
            return len(await DeadLetters(app.store).list()) == 1

        await eventually(dead_lettered, "order 2 to be dead-lettered")
        await eventually(lambda: len(seen) == 3, "every order to be handled")
        run = app.workflows.handle(f"archive:{events[1].id}")
        assert await run.result(timeout=10) == 10
    assert sorted(seen) == [(0, "erp-sync"), (1, "erp-sync"), (2, "erp-sync")]


async def test_a_handler_publishes_and_starts_runs_through_its_context(store_url: str) -> None:
    app = App("shop", store=store_url)
    orders = app.contract("orders", schema=ORDER)
    invoices = app.contract("invoices", schema=ORDER, partitions=1)

    @app.workflow()
    async def remind(ctx: object, n: int) -> int:
        return n + 1

    @app.consumer(orders, group="invoicing")
    async def invoice(event: Event, ctx: DeliveryContext) -> None:
        await ctx.publish(invoices, {"n": event.data["n"]}, idempotency_key=ctx.idempotency_key)
        await ctx.start_workflow("remind", event.data["n"], id=f"remind-{event.id}")

    async with app.running():
        order = await app.publish(orders, {"n": 41})
        run = app.workflows.handle(f"remind-{order.id}")

        async def finished() -> bool:
            try:
                return await run.status() is Status.COMPLETED
            except NotFound:  # the handler has not started it yet
                return False

        await eventually(finished, "the run the handler started to complete")
        assert await run.result() == 42
        (invoice_event,) = await app.log.read("invoices", 0, 0, 10)
    assert invoice_event.data == {"n": 41}
    assert invoice_event.source == "artery://shop"


async def test_a_subject_declared_by_another_integration_names_its_topic(
    sqlite_url: str,
) -> None:
    app, erp = App("shop", store=sqlite_url), erp_sync()
    app.contract("commerce.order.placed", schema=ORDER, topic="orders", partitions=1)
    handled: list[int] = []

    @erp.consumer("commerce.order.placed", group="erp")
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        handled.append(event.data["n"])

    @erp.workflow(on="commerce.order.placed")
    async def archive(ctx: object, order: dict[str, int]) -> int:
        return order["n"]

    app.include(erp)
    assert ("erp", "orders") in app.declared.consumers
    archived = app.declared.workflows["archive"]
    assert (archived.on_topic, archived.input_subject) == ("orders", "commerce.order.placed")
    async with app.running():
        event = await app.publish("commerce.order.placed", {"n": 5})
        await eventually(lambda: handled == [5], "the erp consumer to read the orders topic")
        assert await app.workflows.handle(f"archive:{event.id}").result(timeout=10) == 5


def test_a_refused_include_includes_nothing() -> None:
    app = App("shop")
    app.contract("orders", schema=ORDER)
    clashing = erp_sync()
    clashing.contract("orders", schema=ORDER)
    with pytest.raises(ConfigError, match="declared by both"):
        app.include(clashing)
    assert list(app.integrations) == ["shop"], "the app is left as it was"
    app.include(Integration("crm", owner="team-crm"))  # and can go on
    assert list(app.integrations) == ["shop", "crm"]


def test_scheduling_a_workflow_declared_elsewhere_says_where_to_schedule_it() -> None:
    app, ops = App("shop"), Integration("ops", owner="team-ops")

    @app.workflow()
    async def nightly(ctx: object, _: None) -> None:
        return None

    ops.schedule(every="1h")(nightly)
    with pytest.raises(ConfigError, match="workflow 'nightly' is declared by both") as raised:
        app.include(ops)
    assert raised.value.fix == "schedule a workflow on the integration that declares it"


def test_a_runbook_must_be_a_web_link() -> None:
    with pytest.raises(ConfigError, match="http"):
        Integration("erp-sync", owner="team-finance", runbook="javascript:alert(1)")
