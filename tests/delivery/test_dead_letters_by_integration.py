"""Dead letters name the integration whose consumer gave up, and every selection can be
narrowed to one integration; letters buried before integrations were recorded name none."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from delivery_helpers import FAST, ORDER, eventually

from artery import App, DeliveryContext, Event, Filter, Integration, Permanent, Retry, WorkerOptions
from artery.delivery import DeadLetters
from artery.errors import ConfigError
from artery.store import open_store
from previous_release import OLD_EVENT, previous_store


@dataclass
class Partners:
    """The ERP (declared on the erp-sync integration) and the app's own audit consumer
    reject everything until fixed."""

    erp_broken: bool = True
    erp_handled: int = 0


def declare(store_url: str, partners: Partners) -> App:
    app = App("shop", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    erp = Integration("erp-sync", owner="team-finance")
    orders = erp.contract("orders", schema=ORDER, partitions=2)

    @erp.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        if partners.erp_broken:
            raise Permanent("customer unknown to the ERP")
        partners.erp_handled += 1

    @app.consumer(orders, group="audit", retry=Retry(attempts=1))
    async def audit(event: Event, ctx: DeliveryContext) -> None:
        raise Permanent("audit store is read-only")

    app.include(erp)
    return app


async def open_count(app: App, count: int) -> bool:
    return len(await app.dead_letters.list()) == count


async def test_a_dead_letter_names_the_integration_that_declared_its_consumer(
    store_url: str,
) -> None:
    partners = Partners()
    app = declare(store_url, partners)
    async with app.running():
        await app.publish("orders", {"n": 1})
        await eventually(lambda: open_count(app, 2), "one dead letter per group")
        letters = {letter.group: letter for letter in await app.dead_letters.list()}
        erp_only = await app.dead_letters.list(Filter(integration="erp-sync"))
        nobody = await app.dead_letters.list(Filter(integration="crm-sync"))
        depth = await app.dead_letters.depth(Filter(integration="erp-sync"))
    assert letters["erp"].integration == "erp-sync"
    assert letters["audit"].integration == "shop"  # the app is its own default integration
    assert letters["erp"].summary()["integration"] == "erp-sync"
    assert [letter.group for letter in erp_only] == ["erp"]
    assert nobody == []
    assert depth == {("erp", letters["erp"].consumer): 1}


async def test_redrive_and_purge_by_integration_touch_only_its_dead_letters(
    store_url: str,
) -> None:
    partners = Partners()
    app = declare(store_url, partners)
    async with app.running():
        await app.publish("orders", {"n": 1})
        await eventually(lambda: open_count(app, 2), "one dead letter per group")
        letters = app.dead_letters
        assert await letters.redrive(Filter(integration="crm-sync")) == 0
        assert await letters.purge(Filter(integration="crm-sync"), confirm=True) == 0
        partners.erp_broken = False
        assert await letters.redrive(Filter(integration="erp-sync")) == 1
        await eventually(lambda: partners.erp_handled == 1, "the redriven event handled")
        (left,) = await letters.list()
        assert left.integration == "shop"
        assert await letters.purge(Filter(integration="shop"), confirm=True) == 1
        assert await letters.list(Filter(include_redriven=True, integration="shop")) == []
        (redriven,) = await letters.list(Filter(include_redriven=True))
    assert redriven.integration == "erp-sync" and redriven.redriven_at is not None


async def test_an_integration_alone_is_a_selection(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        letters = DeadLetters(store)
        with pytest.raises(ConfigError, match="needs a selection") as refused:
            await letters.purge(Filter(), confirm=True)
        assert "an integration" in (refused.value.fix or "")
        assert await letters.purge(Filter(integration="erp-sync"), confirm=True) == 0
        assert await letters.redrive(Filter(integration="erp-sync")) == 0
    finally:
        await store.close()


async def test_dead_letters_buried_before_integrations_were_recorded_still_list(
    store_url: str,
) -> None:
    await previous_store(store_url)
    store = await open_store(store_url)
    try:
        letters = DeadLetters(store)
        (old,) = await letters.list()
        assert old.event.id == OLD_EVENT.id and old.integration is None
        assert old.summary()["integration"] is None
        assert [e.message for e in old.errors] == ["unknown customer"]
        assert await letters.list(Filter(integration="shop")) == []
        assert await letters.depth() == {("erp", "post_invoice"): 1}
        assert await letters.depth(Filter(integration="shop")) == {}
    finally:
        await store.close()
