"""Filling the bench's store the way production would: through the app's own paths.

The app runs in role ``run`` while it is filled, so everything the console reads is what
a real worker leaves behind, not rows made up to look like it:

* a day of delivery records before now (per-minute outcome and time-to-sync counts, what
  the health page's "last day" and SLO budgets read): written by the runtime's own
  ``Records`` with its clock set back a minute at a time, as if the worker had run for a
  day; a slow sync now and then, and a failed attempt, so budgets have something to burn.
* events: ``app.publish_many`` in batches of 1,000 (validated, appended atomically), spread
  over the three integrations' contracts; ``dead`` orders, evenly spread, are marked
  ``refuse``, which the ``erp-invoices`` consumer refuses on its only attempt, so exactly
  ``dead`` dead letters are buried by the delivery runner (with their attempt's error);
  every event is consumed, so groups have positions, and deliveries leave the records the
  health page and SLOs read.
* workflow runs: ``app.start_workflow`` (the Workflows API), 256 at a time, executed by the
  engine: most complete (one step recorded), 1 in 10 waits for a manager's approval (a
  waiting signal), 1 in 20 fails its step (an error recorded).

Then the app stops; the bench serves the same store with a fresh app in role ``gateway``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from artery import App
from artery.delivery.dead_letters import DeadLetters, Filter
from artery.observe.records import Labels, Records
from console_support.shop_app import CUSTOMER, GROUP, INVOICE, ORDER, WORKFLOW

BATCH = 1000
STARTING = 256  # runs started at once (the engine's default concurrency)
SETTLE_SECONDS = 300.0
HISTORY_HOURS = 24


@dataclass(frozen=True)
class Sizes:
    events: int
    runs: int
    dead: int


@dataclass
class Took:
    """Seconds each part of the filling took."""

    history: float = 0.0
    publish: float = 0.0
    runs: float = 0.0
    settle: float = 0.0

    @property
    def total(self) -> float:
        return self.history + self.publish + self.runs + self.settle


def order(n: int, refuse: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "order_id": f"o-{n:07d}",
        "total": round(10 + (n % 997) * 1.5, 2),
        "email": f"buyer{n}@example.com",
        "lines": [{"sku": f"sku-{n % 50}", "quantity": 1 + n % 3}],
    }
    if refuse:
        found["note"] = "refuse"
    return found


def customer(n: int) -> dict[str, Any]:
    return {
        "customer_id": f"c-{n:07d}",
        "name": f"Customer {n}",
        "email": f"customer{n}@example.com",
        "phone": f"+49 30 {n:07d}",
    }


def invoice(n: int) -> dict[str, Any]:
    return {"invoice_id": f"i-{n:07d}", "amount": round(20 + (n % 500) * 0.75, 2)}


Make = Callable[[int], dict[str, Any]]


def split(sizes: Sizes) -> list[tuple[str, int, Make]]:
    """Each contract's share of the events (60% orders, 30% customers, 10% invoices) and
    how its ``n``-th event is made; ``sizes.dead`` orders, evenly spread, are refused."""
    customers = sizes.events * 3 // 10
    invoices = sizes.events // 10
    orders = sizes.events - customers - invoices
    if sizes.dead > orders:
        raise ValueError(f"{sizes.dead} dead letters need as many orders; {orders} are made")
    every = orders // sizes.dead if sizes.dead else orders + 1

    def placed(n: int) -> dict[str, Any]:
        return order(n, refuse=n % every == 0 and n // every < sizes.dead)

    return [(ORDER, orders, placed), (CUSTOMER, customers, customer), (INVOICE, invoices, invoice)]


async def publish(app: App, sizes: Sizes) -> None:
    for subject, count, make in split(sizes):
        for start in range(0, count, BATCH):
            batch = [
                app.event(subject, make(n), key=str(n))
                for n in range(start, min(count, start + BATCH))
            ]
            await app.publish_many(subject, batch)


async def history(app: App, hours: int) -> None:
    """``hours`` of per-minute delivery records ending now, for every declared consumer."""
    now = time.time()
    at = [now]
    declared = app.declared
    records = Records(declared.integrations, declared.slos, clock=lambda: at[0])
    lanes = [
        Labels(c.integration or "none", c.partner or "none", c.name, c.topic)
        for c in declared.consumers.values()
    ]
    await records.start(app.runtime)
    try:
        for minute in range(hours * 60, 0, -1):
            at[0] = now - minute * 60
            for n, labels in enumerate(lanes):
                for k in range(20 + (minute + n) % 7):
                    records.delivered(labels, 0.05 * (1 + (minute + k) % 40))
                if minute % 60 == n:
                    records.delivered(labels, 400.0)  # later than shop-sync's 5 minutes
                if minute % 97 == n:
                    records.failed(labels)
                    records.retried(labels)
    finally:
        await records.stop()  # writes what was counted


async def start_runs(app: App, runs: int) -> None:
    async def one(n: int) -> None:
        note = "approval" if n % 10 == 0 else "fail" if n % 20 == 1 else None
        data: dict[str, Any] = {"order_id": f"o-{n:07d}", "total": 10.0 + n % 300}
        if note:
            data["note"] = note
        await app.start_workflow(WORKFLOW, data, id=f"{WORKFLOW}-{n:06d}")

    for start in range(0, runs, STARTING):
        await asyncio.gather(*(one(n) for n in range(start, min(runs, start + STARTING))))


async def settled(app: App, sizes: Sizes) -> bool:
    """Every event consumed, every refused order buried, every run ended or waiting."""
    for consumer in app.declared.consumers.values():
        lag = await app.runtime.log.lag(consumer.group, consumer.topic)
        if not lag or any(behind > 0 for behind in lag.values()):
            return False
    depth = await DeadLetters(app.store).depth(Filter(group=GROUP))
    if sum(depth.values()) < sizes.dead:
        return False
    for live in ("pending", "running", "sleeping"):
        if await app.workflows.list(status=live, limit=1):
            return False
    return True


async def fill(app: App, sizes: Sizes, say: Callable[[str], None]) -> Took:
    """Fill ``app``'s store (the app is running in role ``run``) and wait until the worker
    has caught up with it."""
    took = Took()
    start = time.perf_counter()
    await history(app, HISTORY_HOURS)
    took.history = time.perf_counter() - start
    say(f"  wrote {HISTORY_HOURS} h of per-minute delivery records in {took.history:.1f} s")
    start = time.perf_counter()
    await publish(app, sizes)
    took.publish = time.perf_counter() - start
    say(f"  published {sizes.events:,} events in {took.publish:.1f} s")
    start = time.perf_counter()
    await start_runs(app, sizes.runs)
    took.runs = time.perf_counter() - start
    say(f"  started {sizes.runs:,} workflow runs in {took.runs:.1f} s")
    start = time.perf_counter()
    deadline = start + SETTLE_SECONDS
    while not await settled(app, sizes):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the worker had not caught up after {SETTLE_SECONDS:g} s")
        await asyncio.sleep(0.25)
    took.settle = time.perf_counter() - start
    say(f"  worker caught up (consumed, buried, runs ended or waiting) {took.settle:.1f} s later")
    return took
