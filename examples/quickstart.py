"""Quickstart: declare a contract, publish orders, consume them, replay them.

Runs on the embedded SQLite store in a temporary directory: `make demo` or
`python examples/quickstart.py`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from artery import App, ContractViolation

HERE = Path(__file__).parent


async def main(store_url: str) -> dict[str, int]:
    app = App("quickstart", store=store_url)
    orders = app.contract(
        "commerce.order.placed",
        schema=HERE / "contracts" / "order_placed.json",
        owner="team-orders",
        compatibility="backward",
        partitions=4,
    )
    async with app.running():
        for n in range(1, 11):
            order = {
                "order_id": f"A-{n}",
                "customer": {"id": f"c{n % 3}", "email": f"buyer{n}@example.com"},
                "total": 10.0 * n,
                "currency": "EUR",
            }
            await app.publish(
                orders,
                order,
                key=order["customer"]["id"],
                idempotency_key=f"shop:{order['order_id']}",
            )
        print("published 10 orders (keyed by customer, so each customer's orders stay in order)")

        again = await app.publish(
            orders,
            {"order_id": "A-1", "customer": {"id": "c1"}, "total": 10.0, "currency": "EUR"},
            key="c1",
            idempotency_key="shop:A-1",
        )
        print(
            f"re-published A-1 with the same idempotency key: stored once (offset {again.offset})"
        )

        try:
            await app.publish(
                orders,
                {
                    "order_id": "A-11",
                    "customer": {"email": "x@y.z"},
                    "total": -5,
                    "currency": "BTC",
                },
            )
        except ContractViolation as exc:
            print(f"refused an invalid order: {len(exc.violations)} violations")
            for violation in exc.violations:
                print(f"  {violation}")

        await app.log.join("erp-sync", orders.topic, "earliest")
        seen = await drain(app, "erp-sync", orders.topic)
        print(f"consumer group erp-sync read {seen} events")
        await app.log.reset("erp-sync", orders.topic, to="earliest")
        replayed = await drain(app, "erp-sync", orders.topic)
        print(f"after a reset to earliest, erp-sync replayed {replayed} events")
        lag = sum((await app.log.lag("erp-sync", orders.topic)).values())
        print(f"lag now {lag}")
        return {"seen": seen, "replayed": replayed, "lag": lag}


async def drain(app: App, group: str, topic: str) -> int:
    """Read every partition from the group's position and commit, like a consumer does."""
    count = 0
    for position in await app.log.positions(group):
        events = await app.log.read(topic, position.partition, position.committed, 1000)
        count += len(events)
        if events:
            await app.log.commit(group, topic, {position.partition: (events[-1].offset or 0) + 1})
    return count


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(f"sqlite:///{tmp}/quickstart.db"))
