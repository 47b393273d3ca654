"""Event log throughput: appends/s and consume/s for 1 KiB events on SQLite and PostgreSQL.

Each run opens a fresh store (a SQLite file in a temp dir, or a fresh PostgreSQL schema) and
measures, in order:

1. the raw single-row commit rate of that store with the bare driver (the limit a store
   that commits once per event cannot beat: SQLite WAL + ``synchronous=FULL``; PostgreSQL
   autocommit ``INSERT`` of a 1 KiB row);
2. appends/s with one producer awaiting ``app.publish`` in a loop (each event validated by
   its JSON Schema contract and durable when the call returns);
3. appends/s with 64 concurrent producers, each awaiting one publish at a time (group
   commit lets them share fsyncs);
4. consume/s: every appended event read back through the log partition by partition in
   batches of 500, committing the group's offset after each batch, as a consumer does
   (and, for reference, the same with one reader per partition at once).

Figures are the median of ``--runs`` runs (min-max beside them). Goals (issue text): with 64
producers, appends/s >= 20x the store's single-row commit rate; SQLite consume >= 50,000/s.

    .venv/bin/python bench/log.py                      # full run, both stores
    .venv/bin/python bench/log.py --quick              # smoke test: a few seconds
    .venv/bin/python bench/log.py --stores sqlite --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import log_paths
import orjson
import psycopg
from common import (
    Samples,
    Timer,
    checked_args,
    common_parser,
    postgres_schema,
    rate,
    ratio,
    reachable_stores,
    sqlite_dir,
    table,
)

from artery import App, Contract, Settings

PARTITIONS = 8
BATCH = 500  # events per consumer read (the consumer's default fetch size)
CUSTOMERS = 1000  # distinct partition keys
EVENT_BYTES = 1024  # size of each event's data as JSON
APPEND_GOAL = 20.0  # 64-producer appends/s over single-row commits/s
CONSUME_GOAL = 50_000.0  # SQLite consume events/s


@dataclass(frozen=True)
class Plan:
    runs: int
    raw_seconds: float
    appends_1: dict[str, int]  # store -> events published by one producer
    appends_64: dict[str, int]  # store -> events published by 64 producers
    warmup: int = 64


FULL = Plan(
    runs=3,
    raw_seconds=2.0,
    appends_1={"sqlite": 2_000, "postgres": 2_000},
    appends_64={"sqlite": 40_000, "postgres": 40_000},
)
QUICK = Plan(
    runs=1,
    raw_seconds=0.25,
    appends_1={"sqlite": 100, "postgres": 100},
    appends_64={"sqlite": 1_000, "postgres": 1_000},
    warmup=16,
)

# -- the event: a realistic order, and the contract it is validated against -----------------

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "An order placed in the web shop",
    "type": "object",
    "required": ["order_id", "placed_at", "status", "currency", "customer", "items", "total"],
    "additionalProperties": False,
    "properties": {
        "order_id": {"type": "string", "pattern": "^ord-[0-9]{8}$"},
        "placed_at": {"type": "string", "format": "date-time"},
        "status": {"enum": ["placed", "paid", "shipped", "cancelled"]},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "channel": {"enum": ["web", "app", "store", "phone"]},
        "customer": {
            "type": "object",
            "required": ["id", "name", "email", "address"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^cus-[0-9]{6}$"},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "email": {"type": "string", "format": "email"},
                "tier": {"enum": ["standard", "silver", "gold"]},
                "address": {
                    "type": "object",
                    "required": ["line1", "city", "postcode", "country"],
                    "additionalProperties": False,
                    "properties": {
                        "line1": {"type": "string", "minLength": 1},
                        "line2": {"type": "string"},
                        "city": {"type": "string", "minLength": 1},
                        "postcode": {"type": "string", "minLength": 1},
                        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    },
                },
            },
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["sku", "name", "quantity", "unit_price"],
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "pattern": "^SKU-[0-9]{5}$"},
                    "name": {"type": "string", "minLength": 1},
                    "quantity": {"type": "integer", "minimum": 1},
                    "unit_price": {"type": "integer", "minimum": 0},
                    "category": {"type": "string"},
                },
            },
        },
        "total": {"type": "integer", "minimum": 0},
        "notes": {"type": "string", "maxLength": 2000},
    },
}

_PRODUCTS = (
    ("Stainless steel water bottle, 750 ml", "kitchen", 2499),
    ("Organic cotton t-shirt, navy, size M", "apparel", 1999),
    ("Wireless ergonomic mouse", "electronics", 3950),
    ("Hardcover notebook, dotted, A5", "stationery", 1450),
    ("Ceramic pour-over coffee dripper", "kitchen", 2800),
    ("Merino wool hiking socks (2 pairs)", "apparel", 2200),
    ("USB-C charging cable, braided, 2 m", "electronics", 1299),
)


def make_order(n: int) -> dict[str, Any]:
    """Order ``n``: customer ``n % CUSTOMERS``, five line items, data padded to 1 KiB of JSON."""
    customer = n % CUSTOMERS
    items: list[dict[str, Any]] = []
    total = 0
    for line in range(5):
        name, category, price = _PRODUCTS[(n + line) % len(_PRODUCTS)]
        items.append(
            {
                "sku": f"SKU-{(n * 7 + line * 131) % 100_000:05d}",
                "name": name,
                "quantity": 1 + (n + line) % 3,
                "unit_price": price,
                "category": category,
            }
        )
        total += items[-1]["quantity"] * price
    order: dict[str, Any] = {
        "order_id": f"ord-{n:08d}",
        "placed_at": "2026-01-31T12:34:56.789Z",
        "status": "placed",
        "currency": "EUR",
        "channel": "web",
        "customer": {
            "id": f"cus-{customer:06d}",
            "name": f"Customer Number {customer}",
            "email": f"customer.{customer}@example.com",
            "tier": ("standard", "silver", "gold")[customer % 3],
            "address": {
                "line1": f"{1 + customer % 200} Harbour Street",
                "line2": "Flat 4B",
                "city": "Rotterdam",
                "postcode": f"30{customer % 100:02d} AB",
                "country": "NL",
            },
        },
        "items": items,
        "total": total,
        "notes": "",
    }
    pad = EVENT_BYTES - len(orjson.dumps(order))
    order["notes"] = ("Please leave the parcel with the neighbour at number 12. " * 20)[:pad]
    return order


def order_pool(size: int = 1024) -> list[dict[str, Any]]:
    """Pre-built orders (producers cycle through them), so the bench measures Artery."""
    return [make_order(n) for n in range(size)]


# -- the four measurements -------------------------------------------------------------------


def raw_sqlite_commits(path: Path, seconds: float, body: bytes) -> float:
    """Single-row commits/s with the bare sqlite3 driver, WAL + synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE raw_commits (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        return _commit_loop(
            lambda: conn.execute("INSERT INTO raw_commits (body) VALUES (?)", (body,)), seconds
        )
    finally:
        conn.close()


def raw_postgres_commits(url: str, seconds: float, body: bytes) -> float:
    """Single-row commits/s with bare psycopg: autocommit ``INSERT`` of a 1 KiB row."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_commits (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)")
        insert = "INSERT INTO raw_commits (body) VALUES (%s)"
        result = _commit_loop(lambda: conn.execute(insert, (body,), prepare=True), seconds)
        conn.execute("DROP TABLE raw_commits")
        return result


def _commit_loop(commit: Callable[[], object], seconds: float) -> float:
    for _ in range(20):  # warm up: connection, statement cache, WAL file
        commit()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        commit()
        count += 1
        if count % 16 == 0 and time.perf_counter() >= deadline:
            break
    return count / (time.perf_counter() - start)


async def produce(
    app: App, contract: Contract, pool: list[dict[str, Any]], count: int, concurrency: int
) -> tuple[float, float]:
    """``count`` publishes by ``concurrency`` producers, each awaiting one at a time.

    Returns (events/s, events per store commit)."""
    issued = 0

    async def producer() -> None:
        nonlocal issued
        while issued < count:
            data = pool[issued % len(pool)]
            issued += 1
            await app.publish(contract, data, key=data["customer"]["id"])

    stored_before = await stored_events(app, contract.topic)
    commits_before = app.store.commits
    with Timer() as timer:
        await asyncio.gather(*(producer() for _ in range(concurrency)))
    commits = app.store.commits - commits_before
    stored = await stored_events(app, contract.topic) - stored_before
    assert stored == count, f"expected {count} appends, the store holds {stored} new events"
    return timer.rate(count), count / max(commits, 1)


async def stored_events(app: App, topic: str) -> int:
    return sum(state.next for state in await app.log.partitions(topic))


async def consume_partition(app: App, topic: str, group: str, partition: int) -> int:
    """Read one partition to its end in batches, committing the offset after each batch."""
    log = app.log
    offset = read = 0
    while True:
        events = await log.read(topic, partition, offset, BATCH)
        if events:
            offset = (events[-1].offset or 0) + 1
            await log.commit(group, topic, {partition: offset})
            read += len(events)
        if len(events) < BATCH:
            return read


async def consume(app: App, topic: str, expected: int, *, concurrent: bool) -> tuple[float, float]:
    """All events back, partition after partition (or all partitions at once); events/s."""
    group = f"bench-{'parallel' if concurrent else 'serial'}"
    partitions = range(PARTITIONS)
    with Timer() as timer:
        if concurrent:
            counts = await asyncio.gather(
                *(consume_partition(app, topic, group, p) for p in partitions)
            )
            read = sum(counts)
        else:
            read = 0
            for p in partitions:
                read += await consume_partition(app, topic, group, p)
    assert read == expected, f"read {read} events back, expected {expected}"
    batches = sum(-(-n // BATCH) for n in await _partition_sizes(app, topic))
    return timer.rate(read), read / max(batches, 1)


async def _partition_sizes(app: App, topic: str) -> list[int]:
    return [s.next - s.low for s in await app.log.partitions(topic)]


# -- runs ------------------------------------------------------------------------------------

Key = tuple[str, int]  # (measure, concurrency)
MEASURES: tuple[Key, ...] = (
    ("single-row commit (raw driver)", 1),
    ("append (app.publish)", 1),
    ("append (app.publish)", 64),
    ("consume (read 500 + commit)", 1),
    ("consume (read 500 + commit)", PARTITIONS),
)
RAW, APPEND_1, APPEND_64, CONSUME_1, CONSUME_P = MEASURES


@dataclass
class Figures:
    rates: dict[Key, Samples]
    per_commit: dict[Key, Samples]  # events per store commit (appends), per read (consume)

    @classmethod
    def empty(cls) -> Figures:
        return cls({k: Samples() for k in MEASURES}, {k: Samples() for k in MEASURES})


async def run_once(store: str, url: str, raw_db: Path | None, plan: Plan, into: Figures) -> None:
    pool = order_pool()
    body = orjson.dumps(pool[0])
    if raw_db is not None:
        raw = raw_sqlite_commits(raw_db, plan.raw_seconds, body)
    else:
        raw = raw_postgres_commits(url, plan.raw_seconds, body)
    into.rates[RAW].add(raw)
    into.per_commit[RAW].add(1.0)

    # Settings given outright: ARTERY_* variables or an artery.toml must not change durability.
    app = App("bench", settings=Settings(store=url, sqlite_synchronous="FULL"))
    orders = app.contract("commerce.order.placed", schema=ORDER_SCHEMA, partitions=PARTITIONS)
    async with app.running(None):
        await produce(app, orders, pool, plan.warmup, 8)  # first reads, caches, statements
        for key, count in ((APPEND_1, plan.appends_1[store]), (APPEND_64, plan.appends_64[store])):
            events_per_s, per_commit = await produce(app, orders, pool, count, key[1])
            into.rates[key].add(events_per_s)
            into.per_commit[key].add(per_commit)
        total = plan.warmup + plan.appends_1[store] + plan.appends_64[store]
        for key, concurrent in ((CONSUME_1, False), (CONSUME_P, True)):
            events_per_s, per_read = await consume(app, orders.topic, total, concurrent=concurrent)
            into.rates[key].add(events_per_s)
            into.per_commit[key].add(per_read)


async def bench_store(store: str, plan: Plan, postgres_url: str) -> Figures:
    figures = Figures.empty()
    for run in range(plan.runs):
        started = time.perf_counter()
        if store == "sqlite":
            with sqlite_dir() as folder:
                url = f"sqlite:///{folder}/artery.db"
                await run_once(store, url, folder / "raw.db", plan, figures)
        else:
            with postgres_schema(postgres_url, prefix="bench_log") as url:
                await run_once(store, url, None, plan, figures)
        print(
            f"  {store} run {run + 1}/{plan.runs}: {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return figures


# -- report ----------------------------------------------------------------------------------


def report(results: dict[str, Figures], runs: int) -> tuple[str, bool]:
    """The table and goal lines; the flag is True when every goal measured passed."""
    headers = (
        "store",
        "measure",
        "concurrency",
        f"events/s (median of {runs})" if runs > 1 else "events/s",
        "min-max",
        "x commit rate",
        "events/commit",
    )
    rows = []
    for store, figures in results.items():
        limit = figures.rates[RAW].median
        for key in MEASURES:
            samples = figures.rates[key]
            per = figures.per_commit[key]
            per_text = "" if key[0].startswith("consume") else f"{per.median:,.1f}"
            rows.append(
                [
                    store,
                    key[0],
                    str(key[1]),
                    rate(samples.median),
                    samples.spread(rate),
                    ratio(samples.median / limit),
                    per_text,
                ]
            )
    lines = [table(headers, rows, right=(2, 3, 4, 5, 6)), ""]
    passed = True
    for store, figures in results.items():
        times = figures.rates[APPEND_64].median / figures.rates[RAW].median
        ok = times >= APPEND_GOAL
        passed &= ok
        lines.append(
            f"{store}: 64-producer appends = {times:,.1f} x single-row commits"
            f" (goal >= {APPEND_GOAL:.0f}x): {'PASS' if ok else 'FAIL'}"
        )
    if "sqlite" in results:
        consumed = results["sqlite"].rates[CONSUME_1].median
        ok = consumed >= CONSUME_GOAL
        passed &= ok
        lines.append(
            f"SQLite consume = {consumed:,.0f}/s (goal >= {CONSUME_GOAL:,.0f}/s):"
            f" {'PASS' if ok else 'FAIL'}"
        )
    return "\n".join(lines), passed


def describe(plan: Plan, stores: list[str], postgres_url: str) -> str:
    event = make_order(0)
    stored = len(App("x").event("commerce.order.placed", event, key="cus-000000").to_json())
    parts = [
        f"Artery event log benchmark: Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {plan.runs} run(s) per store",
        f"event data {len(orjson.dumps(event)):,} B JSON ({stored:,} B stored as a CloudEvent),"
        f" {PARTITIONS} partitions, {CUSTOMERS} partition keys; consume batch {BATCH}",
    ]
    for store in stores:
        durable = "WAL + synchronous=FULL" if store == "sqlite" else _pg_durability(postgres_url)
        parts.append(
            f"{store}: raw commits for {plan.raw_seconds:g} s; appends {plan.appends_1[store]:,}"
            f" (1 producer), {plan.appends_64[store]:,} (64 producers); durable: {durable}"
        )
    return "\n".join(parts)


def _pg_durability(url: str) -> str:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
    except psycopg.Error:
        return "(unreachable)"
    assert version and sync and fsync
    return f"PostgreSQL {version[0]}, synchronous_commit={sync[0]}, fsync={fsync[0]}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common_parser(__doc__, "small counts, one run (smoke test)")
    return checked_args(parser, argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs is not None:
        plan = Plan(args.runs, plan.raw_seconds, plan.appends_1, plan.appends_64, plan.warmup)
    stores: list[str] = args.stores
    stores = reachable_stores(stores, args.postgres)
    if not stores:
        return 2
    print(describe(plan, stores, args.postgres), end="\n\n", flush=True)
    load_before = os.getloadavg()[0]
    results = {store: await bench_store(store, plan, args.postgres) for store in stores}
    text, passed = report(results, plan.runs)
    print(text)
    print("\npublish paths side by side (events in JetStream: topics, positions, leases in"
          " PostgreSQL):")  # fmt: skip
    count = 2_000 if args.quick else 20_000
    paths_text, paths_passed = log_paths.report(
        await log_paths.measure(stores, args.postgres, ORDER_SCHEMA, order_pool(), count)
    )
    print(paths_text)
    passed &= paths_passed
    print(
        f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        f" on {os.cpu_count()} CPUs (anything else running skews these figures)"
    )
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
