"""The publish paths side by side, for ``bench/log.py``: ``app.publish`` with 64 concurrent
producers and ``app.publish_many`` (batches of 500) on SQLite, PostgreSQL and JetStream
(events in JetStream, the rest in PostgreSQL), beside their physical ceilings measured in
the same run: nats-py's own acknowledged JetStream publish at the same concurrency, and
each database's raw batched insert (500 rows of the same stored size per commit).

Goals (issue 19): SQLite's ``app.publish`` at 64 concurrent at least equal to raw nats-py
acked publish; ``publish_many`` at least 70% of its store's raw batched insert rate
(JetStream's: of raw nats-py at the same concurrency, since its batch is pipelined
publishes, not one insert).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import psycopg
from common import Timer, postgres_schema, postgres_unreachable, rate, ratio, sqlite_dir, table
from nats.js.api import StorageType, StreamConfig

from artery import App, Contract, Event, Settings

NATS_URL = "nats://127.0.0.1:4222"
PRODUCERS = 64
BATCH = 500
PUBLISH_GOAL = 1.0  # SQLite app.publish (64) over raw nats-py acked publish (64)
BATCH_GOAL = 0.7  # publish_many over the raw batched insert


async def raw_nats(count: int, body: bytes) -> float:
    """nats-py alone: ``PRODUCERS`` publishers, each awaiting its ack, file storage."""
    connection = await nats.connect(NATS_URL)
    js = connection.jetstream()
    name = "BENCH_RAW_" + uuid.uuid4().hex[:8]
    await js.add_stream(StreamConfig(name=name, subjects=[name], storage=StorageType.FILE))
    issued = 0

    async def producer() -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            await js.publish(name, body)

    try:
        with Timer() as timer:
            await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
        return timer.rate(count)
    finally:
        await js.delete_stream(name)
        await connection.drain()


def raw_sqlite_batches(path: Path, count: int, body: bytes) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    start = time.perf_counter()
    for _ in range(count // BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (body) VALUES (?)", [(body,)] * BATCH)
        conn.execute("COMMIT")
    conn.close()
    return (count // BATCH * BATCH) / (time.perf_counter() - start)


def raw_postgres_batches(url: str, count: int, body: bytes) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_batches (id bigserial PRIMARY KEY, body bytea)")
        start = time.perf_counter()
        for _ in range(count // BATCH):
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany("INSERT INTO raw_batches (body) VALUES (%s)", [(body,)] * BATCH)
        return (count // BATCH * BATCH) / (time.perf_counter() - start)


async def app_paths(
    settings: Settings, schema: dict[str, Any], pool: list[dict[str, Any]], count: int
) -> tuple[float, float]:
    """(``app.publish`` by 64 producers, ``publish_many`` in batches of 500), events/s."""
    app = App("bench-paths", settings=settings)
    orders: Contract = app.contract("commerce.order.placed", schema=schema, partitions=8)
    async with app.running(None):
        issued = 0

        async def producer() -> None:
            nonlocal issued
            while issued < count:
                data = pool[issued % len(pool)]
                issued += 1
                await app.publish(orders, data, key=data["customer"]["id"])

        await asyncio.gather(*(app.publish(orders, pool[0]) for _ in range(64)))  # warm up
        with Timer() as single:
            await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
        batches = [
            [
                Event(type=orders.subject, source="bench", data=d, partitionkey=d["customer"]["id"])
                for d in (pool[(b * BATCH + i) % len(pool)] for i in range(BATCH))
            ]
            for b in range(count // BATCH)
        ]
        with Timer() as many:
            for batch in batches:
                await app.publish_many(orders, batch)
    return single.rate(count), many.rate(count // BATCH * BATCH)


async def measure(
    stores: list[str], postgres_url: str, schema: dict[str, Any], pool: list[dict[str, Any]],
    count: int,
) -> list[list[str]]:  # fmt: skip
    body = App("x").event("commerce.order.placed", pool[0]).to_json()  # as stored
    rows: list[list[str]] = []
    nats_rate = await raw_nats(count, body)
    backends = list(stores)
    if postgres_unreachable(postgres_url) is None:  # JetStream keeps the rest in PostgreSQL
        backends.append("jetstream")
    for store in backends:
        if store == "sqlite":
            with sqlite_dir() as folder:
                ceiling = raw_sqlite_batches(folder / "raw.db", count, body)
                settings = Settings(store=f"sqlite:///{folder}/artery.db")
                single, many = await app_paths(settings, schema, pool, count)
        else:
            with postgres_schema(postgres_url, prefix="bench_paths") as url:
                ceiling = raw_postgres_batches(url, count, body)
                log = (
                    "" if store == "postgres" else f"{NATS_URL}?prefix=BENCH{uuid.uuid4().hex[:6]}"
                )
                settings = Settings(store=url, log=log)
                single, many = await app_paths(settings, schema, pool, count)
            if store == "jetstream":
                ceiling = nats_rate
        rows.append(
            [store, rate(single), ratio(single / nats_rate), rate(many), rate(ceiling),
             ratio(many / ceiling)]
        )  # fmt: skip
    rows.append(["nats-py alone (acked)", rate(nats_rate), "1.00x", "", "", ""])
    return rows


def report(rows: list[list[str]]) -> tuple[str, bool]:
    headers = (
        "backend",
        f"app.publish x{PRODUCERS} ev/s",
        "of raw nats-py",
        f"publish_many ({BATCH}) ev/s",
        "raw ceiling ev/s",
        "of ceiling",
    )
    lines = [table(headers, rows, right=(1, 2, 3, 4, 5)), ""]
    passed = True
    for row in rows[:-1]:
        share = float(row[5].rstrip("x"))
        ok = share >= BATCH_GOAL
        passed &= ok
        lines.append(
            f"{row[0]}: publish_many = {row[5]} of its ceiling (goal >= {BATCH_GOAL:.0%}):"
            f" {'PASS' if ok else 'FAIL'}"
        )
    sqlite = next((r for r in rows if r[0] == "sqlite"), None)
    if sqlite is not None:
        ok = float(sqlite[2].rstrip("x")) >= PUBLISH_GOAL
        passed &= ok
        lines.append(
            f"sqlite: app.publish x{PRODUCERS} = {sqlite[2]} of raw nats-py acked publish"
            f" (goal >= {PUBLISH_GOAL:.0%}): {'PASS' if ok else 'FAIL'}"
        )
    return "\n".join(lines), passed
