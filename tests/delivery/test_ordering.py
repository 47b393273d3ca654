"""Per-key order across worker processes: partitions move between live workers (and
workers die), and a key held back by a pending retry stays held back wherever its
partition goes. The partner applies each event once and records the order it did so."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from delivery_helpers import eventually, make_app

from artery import App, DeliveryContext, Event
from artery.delivery import retry_schedule
from artery.store import Tx
from support import postgres_schema_url

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from ordered_worker import applied, build, create_partner  # noqa: E402

N = 2000
KEYS = 16


@pytest.fixture
def postgres_url() -> object:
    """Worker processes share partitions through PostgreSQL (SQLite is one machine's store)."""
    yield from postgres_schema_url()


def start_worker(store_url: str, partner: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.Popen(
        [sys.executable, str(HERE / "ordered_worker.py"), store_url, partner], env=env
    )


async def publish(app: App) -> None:
    """Spread the events over a few seconds so partitions move while keys are busy."""
    for start in range(0, N, 100):
        batch = [
            app.event("orders", {"key": f"k{seq % KEYS}", "seq": seq}, key=f"k{seq % KEYS}")
            for seq in range(start, start + 100)
        ]
        await app.publish_many("orders", batch)
        await asyncio.sleep(0.3)


def out_of_order(rows: list[tuple[str, int]]) -> list[str]:
    """Keys whose sequence numbers went backwards at the partner."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, seq in rows:
        by_key[key].append(seq)
    return sorted(key for key, seqs in by_key.items() if seqs != sorted(seqs))


async def churn_and_check(store_url: str, partner: str, *, kill: bool) -> None:
    app = build(store_url, partner)
    procs: list[subprocess.Popen[bytes]] = []
    async with app.running(None):
        procs.append(start_worker(store_url, partner))
        publisher = asyncio.create_task(publish(app))
        try:
            for round_ in range(6):
                await asyncio.sleep(1.2)
                procs.append(start_worker(store_url, partner))  # partitions move to it
                if round_ % 2 == 1:
                    victim = procs.pop(0)  # partitions move away from it
                    victim.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                    victim.wait(timeout=30)
            await publisher
            await eventually(
                lambda: len(applied(partner)) >= N, timeout=60, what="every event applied"
            )
        finally:
            publisher.cancel()
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
    effects = applied(partner)
    assert sorted(seq for _, seq in effects) == list(range(N)), "each event applied once"
    assert out_of_order(effects) == [], "the partner applied a key's events out of order"


async def test_per_key_order_holds_while_partitions_move_between_live_workers(
    postgres_url: str, tmp_path: Path
) -> None:
    partner = str(tmp_path / "partner.db")
    create_partner(partner)
    await churn_and_check(postgres_url, partner, kill=False)


@pytest.mark.fault
async def test_per_key_order_holds_when_workers_are_killed_and_replaced(
    postgres_url: str, tmp_path: Path
) -> None:
    partner = str(tmp_path / "partner.db")
    create_partner(partner)
    await churn_and_check(postgres_url, partner, kill=True)


async def test_retries_of_an_ordered_key_run_one_at_a_time_earliest_first(
    store_url: str,
) -> None:
    """A partition taken over with several pending retries of one key (its previous owner
    scheduled them) replays them in offset order, never side by side."""
    app, orders = make_app(store_url, partitions=1)
    seen: list[int] = []

    @app.consumer(orders, group="erp", ordered=True)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        seen.append(event.data["n"])
        await asyncio.sleep(0.05)

    async with app.running(None):
        stored = [await app.publish(orders, {"n": n}, key="k") for n in range(3)]
        await app.log.commit("erp", "orders", {0: 3})
        now = int(time.time() * 1e6)

        def schedule(tx: Tx) -> None:  # the later event is due first
            for event, due in zip(stored, (now, now - 2_000_000, now - 1_000_000), strict=True):
                retry_schedule.schedule(tx, "erp", "handle", event, 1, due, ())

        await app.store.write(schedule)
    async with app.running():
        await eventually(lambda: len(seen) >= 3, timeout=10, what="the retries to run")
        await asyncio.sleep(0.2)
    assert seen == [0, 1, 2]
