"""Consumers honour partner policies: shared rate limits and circuit breakers."""

from __future__ import annotations

import asyncio
import time

from delivery_helpers import eventually, make_app

from artery import BreakerPolicy, DeliveryContext, Event, Retry
from artery.delivery.breaker import Breakers


async def test_rate_limit_is_shared_by_every_consumer_calling_the_partner(
    store_url: str,
) -> None:
    app, orders = make_app(store_url)
    stamps: list[float] = []

    for group in ("erp-invoices", "erp-customers"):

        def register(group: str = group) -> None:
            @app.consumer(orders, group=group, rate_limit="erp:10/s,burst=5")
            async def call_erp(event: Event, ctx: DeliveryContext) -> None:
                stamps.append(time.monotonic())

        register()

    async with app.running():
        for n in range(15):
            await app.publish(orders, {"n": n})
        await eventually(lambda: len(stamps) == 30, timeout=15, what="30 partner calls")
    elapsed = max(stamps) - min(stamps)
    # 30 calls at 10/s with a burst of 5 need at least (30 - 5) / 10 = 2.5 s in total
    assert elapsed >= 2.3, f"30 calls took {elapsed:.2f}s: the shared limit was not applied"


async def test_open_breaker_makes_events_wait_instead_of_burning_attempts(
    store_url: str,
) -> None:
    app, orders = make_app(store_url, partitions=1)
    partner_up = False
    attempts: list[int] = []
    done: list[int] = []
    policy = BreakerPolicy(failure_ratio=0.5, min_calls=4, window="10s", open_for="1s")

    @app.consumer(
        orders,
        group="erp",
        breaker="erp",
        breaker_policy=policy,
        concurrency=1,
        retry=Retry(attempts=3, base="10ms", cap="20ms"),
    )
    async def call_erp(event: Event, ctx: DeliveryContext) -> None:
        attempts.append(event.data["n"])
        if not partner_up:
            raise ConnectionError("ERP down")
        done.append(event.data["n"])

    async def breaker_opened() -> bool:
        states = await Breakers(app.store, "test").states()
        return any(s["name"] == "erp" and s["state"] == "open" for s in states)

    async with app.running():
        for n in range(20):
            await app.publish(orders, {"n": n})
        await eventually(breaker_opened, timeout=10, what="the breaker to open")
        calls_when_open = len(attempts)
        await asyncio.sleep(0.5)
        assert len(attempts) == calls_when_open, "no calls while the breaker is open"
        partner_up = True

        async def settled() -> bool:
            return len(set(done)) + len(await app.dead_letters.list()) == 20

        await eventually(settled, timeout=20, what="every event done or dead after recovery")
        dead = await app.dead_letters.list()
    assert calls_when_open < 12, "the breaker stopped the failing calls early"
    assert len(dead) <= 4, "events waited for the breaker instead of using up their attempts"
