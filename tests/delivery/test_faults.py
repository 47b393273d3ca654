"""Faults: killed workers, several workers, and a store that goes away mid-run.

Whatever happens, every published event ends completed exactly once for its group or in
the dead letters, and none is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from delivery_helpers import eventually, make_app

from artery import App, DeliveryContext, Event
from support import POSTGRES, service_missing

HERE = Path(__file__).parent
N = 400


def partner_db(tmp_path: Path) -> str:
    path = str(tmp_path / "partner.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE calls (key TEXT NOT NULL)")
    conn.execute("CREATE TABLE effects (key TEXT PRIMARY KEY)")
    conn.commit()
    conn.close()
    return path


def start_worker(store_url: str, partner: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.Popen(
        [sys.executable, str(HERE / "fault_worker.py"), store_url, partner], env=env
    )


def partner_counts(partner: str) -> tuple[int, int]:
    conn = sqlite3.connect(partner, timeout=30)
    calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    effects = conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0]
    conn.close()
    return int(calls), int(effects)


async def outcome(app: App) -> tuple[list[str], list[str]]:
    """(event ids completed by group erp, event ids dead-lettered for erp)."""
    done = await app.store.read(
        lambda tx: tx.execute("SELECT event_id FROM completions WHERE group_name = 'erp'")
    )
    dead = await app.store.read(
        lambda tx: tx.execute("SELECT event_id FROM dead_letters WHERE group_name = 'erp'")
    )
    return [r[0] for r in done], [r[0] for r in dead]


@pytest.mark.fault
async def test_sigkilled_worker_loses_nothing_after_restart(store_url: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE))
    from fault_worker import build

    partner = partner_db(tmp_path)
    app = build(store_url, partner)
    async with app.running(None):
        published = [(await app.publish("orders", {"n": n}, key=f"c{n % 13}")).id for n in range(N)]
        first = start_worker(store_url, partner)
        try:
            await eventually(
                lambda: partner_counts(partner)[0] >= N // 4,
                timeout=60,
                what="the first worker to be mid-run",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed_at = partner_counts(partner)[1]
        assert killed_at < N, "the kill must land mid-run"
        second, third = start_worker(store_url, partner), start_worker(store_url, partner)
        try:

            async def settled() -> bool:
                done, dead = await outcome(app)
                return len(done) + len(dead) >= N

            await eventually(settled, timeout=90, what="all events settled after restart")
        finally:
            for proc in (second, third):
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=30) for proc in (second, third)]
        done, dead = await outcome(app)
    assert codes == [0, 0], "SIGTERM stops a worker cleanly"
    assert Counter(done + dead) == Counter(published), "each event exactly once: done or dead"
    assert len(dead) == N // 50
    calls, effects = partner_counts(partner)
    assert effects == len(done), "the partner applied each completed event's effect once"
    assert calls >= effects


async def test_two_workers_split_partitions_and_complete_each_event_once(
    store_url: str,
) -> None:
    first, orders = make_app(store_url, partitions=8)
    second, _ = make_app(store_url, partitions=8)
    handled: Counter[int] = Counter()
    by_worker: Counter[str] = Counter()

    for app, name in ((first, "one"), (second, "two")):

        def register(app: App = app, name: str = name) -> None:
            @app.consumer("orders", group="erp", dedupe=True)
            async def handle(event: Event, ctx: DeliveryContext) -> None:
                handled[event.data["n"]] += 1
                by_worker[name] += 1

        register()

    async def leases_split() -> bool:
        rows = await first.store.read(
            lambda tx: tx.execute("SELECT owner, COUNT(*) FROM partition_leases GROUP BY owner")
        )
        return sorted(int(r[1]) for r in rows) == [4, 4]

    async with first.running(), second.running():
        await eventually(leases_split, timeout=15, what="4 partitions each")
        for n in range(300):
            await first.publish(orders, {"n": n}, key=f"c{n}")
        await eventually(lambda: len(handled) == 300, what="all handled")
        await asyncio.sleep(0.2)
    assert set(handled.values()) == {1}
    assert by_worker["one"] > 0 and by_worker["two"] > 0


@pytest.fixture
def outage_postgres() -> Iterator[tuple[str, str]]:
    """A database of its own, so the test can shut it off without touching others."""
    name = f"artery_outage_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", str(exc).strip().splitlines()[0])
    admin.execute(f"CREATE DATABASE {name}")
    base = POSTGRES.rsplit("/", 1)[0]
    yield f"{base}/{name}", name
    admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


async def _run_through_outage(app: App, orders: object, outage: object) -> None:
    handled: Counter[int] = Counter()

    @app.consumer("orders", group="erp", dedupe=True)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        handled[event.data["n"]] += 1

    async with app.running():
        for n in range(100):
            await app.publish("orders", {"n": n})
        await eventually(lambda: len(handled) == 100, what="first hundred")
        await outage()  # type: ignore[operator]
        for n in range(100, 200):
            await app.publish("orders", {"n": n})
        await eventually(lambda: len(handled) == 200, timeout=30, what="all after the outage")

        async def all_recorded() -> bool:
            return len((await outcome(app))[0]) == 200

        await eventually(all_recorded, timeout=10, what="every completion recorded")
    assert set(handled.values()) == {1}


@pytest.mark.fault
async def test_worker_rides_out_a_postgres_outage(outage_postgres: tuple[str, str]) -> None:
    url, name = outage_postgres
    app, orders = make_app(url)

    async def outage() -> None:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            await asyncio.sleep(10)
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")

    await _run_through_outage(app, orders, outage)


@pytest.mark.fault
async def test_worker_rides_out_a_locked_sqlite_store(sqlite_url: str) -> None:
    app, orders = make_app(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")

    async def outage() -> None:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        await asyncio.sleep(10)
        blocker.execute("COMMIT")
        blocker.close()

    await _run_through_outage(app, orders, outage)
