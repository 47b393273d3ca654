"""Quickstart: a contract, a consumer that survives a flaky partner, and a saga.

Runs on the embedded SQLite store in a temporary directory: `make demo` or
`python examples/quickstart.py`. Nothing else needs to be running.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from artery import (
    App,
    ContractViolation,
    DeliveryContext,
    Event,
    Permanent,
    Retry,
    WorkflowContext,
    WorkflowError,
)

HERE = Path(__file__).parent


class FlakyErp:
    """A partner that fails every third call and dedupes by idempotency key."""

    def __init__(self) -> None:
        self.calls = 0
        self.invoices: dict[str, str] = {}

    async def post_invoice(self, order: dict[str, Any], idempotency_key: str) -> None:
        self.calls += 1
        if order["currency"] == "GBP":
            raise Permanent("ERP has no GBP ledger")
        if self.calls % 3 == 0:
            raise ConnectionError("ERP timed out")
        self.invoices.setdefault(idempotency_key, order["order_id"])


def build(store_url: str, erp: FlakyErp, log: list[str]) -> App:
    app = App("quickstart", store=store_url)
    orders = app.contract(
        "commerce.order.placed",
        schema=HERE / "contracts" / "order_placed.json",
        owner="team-orders",
        compatibility="backward",
        partitions=4,
    )

    @app.consumer(orders, group="erp-sync", retry=Retry(attempts=4, base="50ms", cap="1s"))
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        await erp.post_invoice(event.data, idempotency_key=ctx.idempotency_key)

    async def authorize(order: dict[str, Any]) -> str:
        log.append(f"authorize {order['order_id']}")
        return f"auth-{order['order_id']}"

    async def void(auth: str, order: dict[str, Any]) -> None:
        log.append(f"void {auth}")

    async def capture(auth: str) -> str:
        log.append(f"capture {auth}")
        return auth

    @app.workflow(on=orders)
    async def fulfil(ctx: WorkflowContext, order: dict[str, Any]) -> str:
        auth = await ctx.step(authorize, order, compensate=void)
        if order["total"] > 50:
            decision = await ctx.wait_for_signal("manager-approval", timeout="2d")
            if decision != "approve":
                ctx.compensate()
        return str(await ctx.step(capture, auth))

    return app


async def main(store_url: str) -> dict[str, Any]:
    erp, log = FlakyErp(), []
    app = build(store_url, erp, log)
    async with app.running():
        print("1. publish orders (validated against contracts/order_placed.json)")
        stored = []
        for n, (total, currency) in enumerate(
            [(20, "EUR"), (35, "USD"), (80, "EUR"), (15, "GBP"), (120, "EUR")], start=1
        ):
            order = {
                "order_id": f"A-{n}",
                "customer": {"id": f"c{n}", "email": f"b{n}@x.io"},
                "total": total,
                "currency": currency,
            }
            stored.append(
                await app.publish(
                    "commerce.order.placed", order, key=f"c{n}", idempotency_key=f"shop:A-{n}"
                )
            )
        again = await app.publish(
            "commerce.order.placed",
            {"order_id": "A-1", "customer": {"id": "c1"}, "total": 20, "currency": "EUR"},
            key="c1",
            idempotency_key="shop:A-1",
        )
        print(f"   5 stored; a re-sent A-1 was recognised (same id: {again.id == stored[0].id})")
        try:
            await app.publish(
                "commerce.order.placed", {"order_id": "A-9", "total": -5, "currency": "BTC"}
            )
        except ContractViolation as exc:
            print(f"   refused an invalid order with {len(exc.violations)} violations:")
            for violation in exc.violations:
                print(f"     {violation}")

        print("2. the erp-sync consumer posts invoices through a flaky ERP")
        while len(erp.invoices) < 4 or not await app.dead_letters.list():
            await asyncio.sleep(0.05)
        (letter,) = await app.dead_letters.list()
        print(f"   {len(erp.invoices)} invoices posted in {erp.calls} calls (retried timeouts)")
        print(f"   1 dead letter: {letter.event.data['order_id']}: {letter.errors[-1].message}")

        print("3. a fulfil saga runs per order; big orders wait for a manager")
        runs = {stored[2].id: "approve", stored[4].id: "reject"}
        for event_id, decision in runs.items():
            run_id = f"fulfil:{event_id}"
            while run_id not in {r.run_id for r in await app.workflows.list(status="waiting")}:
                await asyncio.sleep(0.05)
            await app.workflows.signal(run_id, "manager-approval", decision)
        outcomes: Counter[str] = Counter()
        for event in stored:
            handle = app.workflows.handle(f"fulfil:{event.id}")
            while True:
                try:
                    await handle.result(timeout=10)
                    outcomes["completed"] += 1
                    break
                except WorkflowError as exc:
                    outcomes[exc.status] += 1
                    break
                except Exception:  # not started yet by its event
                    await asyncio.sleep(0.05)
        print(f"   outcomes: {dict(outcomes)}")
        print(f"   saga log: {log}")
        lag = sum((await app.log.lag("erp-sync", "commerce.order.placed")).values())
        print(f"4. erp-sync lag now {lag}; replay any time with `artery replay erp-sync ...`")
        return {"invoices": len(erp.invoices), "dead": 1, "outcomes": dict(outcomes), "lag": lag}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(f"sqlite:///{tmp}/quickstart.db"))
