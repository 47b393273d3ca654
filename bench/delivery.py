"""End-to-end delivery: events/s from publish to handler completion, and publish-to-start
latency, for Artery worker processes on SQLite and PostgreSQL, against Celery on Redis.

Throughput (a backlog drained by real worker processes). Each run uses a fresh store and
fresh worker processes (``bench/delivery_support/worker.py``, which builds the app and runs
``app.serve()``). The benchmark starts the workers on an empty topic and waits until they
hold the group's 8 partition leases (4 each with two workers). It then publishes all N events
(~1 KiB JSON, validated by the contract) in ONE ``publish_many`` call, i.e. one transaction:
they become visible to the workers at once, and the clock starts when the call returns.
Publishing is therefore not measured; discovering the backlog is (workers in another process
are woken when the append commits: SQLite's datagrams, PostgreSQL's NOTIFY; their poll,
every ``poll_interval``, 10 ms by default, is the fallback). The run ends at the
last handler completion (each worker counts in-process and reports wall-clock times on exit);
the benchmark waits until the group's committed offsets reach N, so every event counted was
also committed. events/s = N / (last completion - publish returned).

Handlers: ``noop`` (returns at once; consumer concurrency 32, the default) and ``sleep20``
(``await asyncio.sleep(0.02)``, a simulated partner call; concurrency 256). Default retry
policy (5 attempts, durable retries, dead letters) and timeout (30 s).

Celery 5 on the same machine: Redis broker on its own database (flushed before each run),
``task_acks_late=True``, JSON, no result backend, workers started with ``celery worker``
(``--without-gossip --without-mingle --without-heartbeat``). The N tasks are queued first under
a staging key while the workers start (one real ``apply_async`` message is the template for
the rest, pushed in pipelined batches, because ``apply_async`` alone manages only ~650/s here);
once every worker reports ready the staging list is RENAMEd onto the ``celery`` queue (atomic,
like the single Artery transaction) and the clock starts. Each task INCRs a Redis counter (one
round trip); the one reaching N stores its completion time. Both handlers use ``--pool threads``
(gevent/eventlet are not installed): noop with 32 threads (the Artery consumer's concurrency;
it was as fast as or faster than solo and prefork here) and prefetch multiplier 4, sleep20 with
256 threads running ``time.sleep(0.02)``. "workers" counts worker processes for both systems.

Latency: one worker process (noop handler) running; a producer in this process publishes at
a fixed rate, half of that system's measured noop peak (median), for a few seconds, in
batches every 10 ms (Artery: one ``publish_many`` per batch, not awaited before the next
tick; Celery: ``apply_async`` per task), each event carrying ``time.time()`` taken just before
its publish call; the handler records its start time minus that. p50/p99 over the run after
the first second. The producer shares the machine's 2 CPUs with the worker (and the database),
so "half of peak" is measured with both running; CPU use of each is logged. Two one-run
diagnostic rows per store follow: light load (1,000/s), and half of peak with
``poll_interval`` 5 ms instead of the default 10 ms.

    .venv/bin/python bench/delivery.py                    # full run (~6-8 minutes)
    .venv/bin/python bench/delivery.py --quick            # smoke test (~30 s)
    .venv/bin/python bench/delivery.py --only artery --stores sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from celery.utils.saferepr import saferepr
from common import (
    STORES,
    Samples,
    checked_args,
    common_parser,
    postgres_schema,
    rate,
    ratio,
    reachable_stores,
    sqlite_dir,
    table,
)
from delivery_support.payload import (
    DEDUPE_ENV,
    GROUP,
    PARTITIONS,
    SCHEMA,
    SUBJECT,
    make_order,
    partition_key,
)
from observe_support.modes import MODES, environment

from artery import App, Contract, Event, Settings
from gateway import free_port

BENCH = Path(__file__).resolve().parent
WORKER_SCRIPT = BENCH / "delivery_support" / "worker.py"
SYSTEMS = ("artery", "celery")
HANDLERS = ("noop", "sleep20")
WORKER_COUNTS = (1, 2)
ARTERY_CONCURRENCY = {"noop": 32, "sleep20": 256}
# (pool, concurrency per worker process, prefetch multiplier)
CELERY_POOL = {"noop": ("threads", 32, 4), "sleep20": ("threads", 256, 4)}
CELERY_BROKER = os.environ.get("ARTERY_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
STAGING = "bench_staging"  # Celery tasks wait here until the workers are ready
THROUGHPUT_GOAL = 10_000.0  # noop, SQLite, one worker process
OBSERVE_COST_GOAL = 0.15  # throughput metrics and tracing may cost (issue 16)
RATIO_GOAL = 3.0  # Artery over Celery, noop, one worker, SQLite
P99_GOAL_MS = 50.0  # at half of peak load
LATENCY_WARMUP = 1.0  # seconds of latency samples discarded at the start (at most a third)


@dataclass(frozen=True)
class Plan:
    runs: int
    artery_events: dict[str, int]  # handler -> backlog size
    celery_events: dict[str, int]
    latency_seconds: float
    diagnostics: bool = True  # the extra one-run latency rows
    lease_ttl: float | None = None  # None: Artery's default (10 s; rebalancing every 3.3 s)


FULL = Plan(
    runs=3,
    artery_events={"noop": 30_000, "sleep20": 20_000},
    celery_events={"noop": 5_000, "sleep20": 5_000},
    latency_seconds=5.0,
)
QUICK = Plan(
    runs=1,
    artery_events={"noop": 2_000, "sleep20": 2_000},
    celery_events={"noop": 300, "sleep20": 500},
    latency_seconds=1.2,
    diagnostics=False,
    lease_ttl=2.0,  # two workers split the partitions sooner (smoke test only)
)

Key = tuple[str, str, str, int]  # (system, store or broker, handler, workers)


@dataclass(frozen=True)
class Latency:
    """One latency run: publish-to-handler-start p50/p99 (ms), events/s handled, and p99 of
    the publish call itself (ms; until the event is durable / pushed to Redis)."""

    p50: float
    p99: float
    delivered: float
    publish_p99: float


@dataclass
class LatencyRow:
    system: str
    store: str
    offered: float  # events/s the producer publishes
    note: str  # what this row is: the goal's "half of peak", or a diagnostic
    goal: bool  # the p99 goal applies to this row
    p50: Samples = field(default_factory=Samples)  # ms
    p99: Samples = field(default_factory=Samples)  # ms
    delivered: Samples = field(default_factory=Samples)  # events/s handled
    publish_p99: Samples = field(default_factory=Samples)  # ms

    def add(self, run: Latency) -> None:
        self.p50.add(run.p50)
        self.p99.add(run.p99)
        self.delivered.add(run.delivered)
        self.publish_p99.add(run.publish_p99)


@dataclass
class Results:
    throughput: dict[Key, Samples] = field(default_factory=dict)
    # (system, store) -> (offered rate, p50 samples ms, p99 samples ms, delivered samples)
    latency: list[LatencyRow] = field(default_factory=list)
    observed: dict[str, Samples] = field(default_factory=dict)  # mode -> noop x1 events/s
    observed_store: str = ""
    notes: list[str] = field(default_factory=list)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- processes ---------------------------------------------------------------------------


@dataclass
class Child:
    """A worker process this benchmark started, with its output captured to files."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr: Path

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.stderr.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no output)"

    async def stop(self, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)
            raise RuntimeError(
                f"{self.name} did not stop in {timeout:g} s:\n{self.tail()}"
            ) from None


def spawn(name: str, argv: list[str], folder: Path, env: dict[str, str] | None = None) -> Child:
    out = folder / f"{name}.out"
    err = folder / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv, stdout=stdout, stderr=stderr, env={**os.environ, **(env or {})}, cwd=BENCH.parent
        )
    return Child(name, proc, err)


@contextlib.asynccontextmanager
async def children(started: list[Child]) -> Any:
    """Stop (SIGTERM, then wait) every child on the way out, even after a failure."""
    try:
        yield started
    finally:
        for child in started:
            with contextlib.suppress(Exception):
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
        for child in started:
            with contextlib.suppress(Exception):
                await child.stop()


# -- Artery ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_store(store: str, postgres_url: str) -> Iterator[str]:
    if store == "sqlite":
        with sqlite_dir(prefix="artery-bench-delivery-") as folder:
            yield f"sqlite:///{folder}/artery.db"
    else:
        with postgres_schema(postgres_url, prefix="bench_delivery") as url:
            yield url


def bench_app(url: str) -> tuple[App, Contract]:
    app = App("bench-delivery", settings=Settings(store=url, sqlite_synchronous="FULL"))
    return app, app.contract(SUBJECT, schema=SCHEMA, partitions=PARTITIONS)


async def lease_counts(app: App) -> list[int]:
    """Partitions held per worker process, as the group coordinator sees them."""
    owners = await app.log.coordinator("bench-observer", 10.0).owners(GROUP, SUBJECT)
    return sorted(Counter(owners.values()).values())


async def committed(app: App) -> int:
    return sum(p.committed for p in await app.log.positions(GROUP) if p.topic == SUBJECT)


async def start_artery_workers(
    app: App,
    url: str,
    handler: str,
    workers: int,
    folder: Path,
    *,
    latency: bool = False,
    poll_interval: float | None = None,
    lease_ttl: float | None = None,
    env: dict[str, str] | None = None,
) -> list[Child]:
    started = []
    for index in range(workers):
        argv = [
            sys.executable,
            str(WORKER_SCRIPT),
            url,
            "--handler",
            handler,
            "--concurrency",
            str(ARTERY_CONCURRENCY[handler]),
            "--report",
            str(folder / f"artery-{index}.json"),
        ]
        if latency:
            argv.append("--latency")
        if poll_interval is not None:
            argv += ["--poll-interval", str(poll_interval)]
        if lease_ttl is not None:
            argv += ["--lease-ttl", str(lease_ttl)]
        started.append(spawn(f"artery-{index}", argv, folder, env))
    # Balanced means every worker is consuming: all 8 partitions leased, evenly.
    want = [PARTITIONS // workers] * workers
    begun = time.monotonic()
    deadline = time.monotonic() + 60
    while await lease_counts(app) != want:
        for child in started:
            child.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not balance: leases {await lease_counts(app)}")
        await asyncio.sleep(0.05)
    log(f"    {workers} worker process(es) holding leases after {time.monotonic() - begun:.1f} s")
    return started


def read_reports(folder: Path, workers: int) -> list[dict[str, Any]]:
    return [
        orjson.loads((folder / f"artery-{index}.json").read_bytes()) for index in range(workers)
    ]


async def artery_throughput(
    url: str,
    handler: str,
    workers: int,
    count: int,
    pool: list[dict[str, Any]],
    lease_ttl: float | None = None,
    env: dict[str, str] | None = None,
) -> float:
    app, orders = bench_app(url)
    with tempfile.TemporaryDirectory(prefix="artery-bench-run-") as tmp:
        folder = Path(tmp)
        async with app.running(None):
            events = [
                app.event(orders, pool[n % len(pool)], key=partition_key(pool[n % len(pool)]))
                for n in range(count)
            ]
            async with children(
                await start_artery_workers(
                    app, url, handler, workers, folder, lease_ttl=lease_ttl, env=env
                )
            ) as started:
                await app.publish_many(orders, events)
                published = time.time()
                del events
                deadline = time.monotonic() + max(120.0, count / 200)
                while await committed(app) < count:
                    for child in started:
                        child.check_alive()
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {await committed(app)} of {count} committed")
                    await asyncio.sleep(0.05)
                for child in started:
                    await child.stop()
            reports = read_reports(folder, workers)
    handled = sum(int(r["count"]) for r in reports)
    if handled < count:
        raise RuntimeError(f"handlers counted {handled} of {count} events")
    elapsed = max(float(r["last_done"]) for r in reports) - published
    return count / elapsed


async def produce_at_rate(
    app: App, orders: Contract, pool: list[dict[str, Any]], per_second: float, seconds: float
) -> tuple[int, list[tuple[float, float]]]:
    """Publish ``per_second`` events for ``seconds``: every 10 ms, the events now due, as one
    ``publish_many`` that is not awaited before the next tick (group commit merges them).

    Returns the number sent and, per event, (sent_at, seconds until its publish returned)."""
    pending: set[asyncio.Task[None]] = set()
    published: list[tuple[float, float]] = []
    sent = 0

    async def publish(batch: list[Event], stamp: float) -> None:
        await app.publish_many(orders, batch)
        published.extend([(stamp, time.time() - stamp)] * len(batch))

    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(per_second * elapsed) - sent
        if due > 0:
            stamp = time.time()
            batch = []
            for n in range(sent, sent + due):
                data = {**pool[n % len(pool)], "sent_at": stamp}
                batch.append(app.event(orders, data, key=partition_key(data)))
            task = asyncio.create_task(publish(batch, stamp))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += due
        await asyncio.sleep(0.01)
    await asyncio.gather(*pending)
    return sent, published


async def artery_latency(
    url: str,
    per_second: float,
    seconds: float,
    pool: list[dict[str, Any]],
    poll_interval: float | None = None,
) -> Latency:
    """Publish-to-start latency with one worker at ``per_second``."""
    app, orders = bench_app(url)
    with tempfile.TemporaryDirectory(prefix="artery-bench-run-") as tmp:
        folder = Path(tmp)
        async with app.running(None):
            async with children(
                await start_artery_workers(
                    app, url, "noop", 1, folder, latency=True, poll_interval=poll_interval
                )
            ) as started:
                begun = time.time()
                cpu = time.process_time()
                sent, published = await produce_at_rate(app, orders, pool, per_second, seconds)
                cpu = time.process_time() - cpu
                deadline = time.monotonic() + 60
                while await committed(app) < sent:
                    started[0].check_alive()
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {await committed(app)} of {sent} committed")
                    await asyncio.sleep(0.05)
                await started[0].stop()
            (report,) = read_reports(folder, 1)
    warmup = min(LATENCY_WARMUP, seconds / 3)
    delays = [d * 1000 for sent_at, d in report["latencies"] if sent_at >= begun + warmup]
    publishing = [d * 1000 for sent_at, d in published if sent_at >= begun + warmup]
    active = max(float(report["last_done"]) - begun, 1e-9)
    delivered = int(report["count"]) / active
    log(
        f"    CPU while producing: benchmark process (producer) {cpu / seconds:.0%},"
        f" worker process {float(report['cpu']) / active:.0%} of one core"
    )
    return Latency(
        percentile(delays, 0.50), percentile(delays, 0.99), delivered, percentile(publishing, 0.99)
    )


# -- Celery ------------------------------------------------------------------------------


def celery_env(prefetch: int) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": f"{BENCH}{os.pathsep}{path}" if path else str(BENCH),
        "ARTERY_BENCH_CELERY_BROKER": CELERY_BROKER,
        "ARTERY_BENCH_CELERY_PREFETCH": str(prefetch),
    }


def start_celery_workers(handler: str, workers: int, folder: Path) -> list[Child]:
    pool, concurrency, prefetch = CELERY_POOL[handler]
    started = []
    for index in range(workers):
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "delivery_support.celery_app",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "-n",
            f"bench{index}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        started.append(spawn(f"celery-{index}", argv, folder, celery_env(prefetch)))
    return started


async def wait_celery_ready(client: redis.Redis, started: list[Child]) -> None:
    from delivery_support.celery_app import READY_PREFIX

    deadline = time.monotonic() + 60
    while len(client.keys(f"{READY_PREFIX}*")) < len(started):
        for child in started:
            child.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("celery workers did not become ready")
        await asyncio.sleep(0.05)


def celery_task(name: str) -> Any:
    os.environ["ARTERY_BENCH_CELERY_BROKER"] = CELERY_BROKER
    from delivery_support import celery_app

    return getattr(celery_app, name)


def stage(client: redis.Redis, task: Any, pool: list[dict[str, Any]], count: int) -> None:
    """Queue ``count`` tasks under ``STAGING`` as ``apply_async`` would queue them on the
    ``celery`` queue, but fast: one message is sent with ``apply_async`` and read back as
    the template; the rest are copies with their own task id, delivery tag, arguments and
    body, pushed in pipelined batches (``apply_async`` alone manages ~650/s here)."""
    task.apply_async((pool[0], count), queue=STAGING)
    raw = client.lpop(STAGING)
    assert isinstance(raw, bytes), "the template message did not arrive"
    template = orjson.loads(raw)
    template["properties"]["delivery_info"] = {"exchange": "", "routing_key": "celery"}
    embed = orjson.loads(base64.b64decode(template["body"]))[2]
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        args = [pool[n % len(pool)], count]
        task_id = str(uuid.uuid4())
        headers = {
            **template["headers"],
            "id": task_id,
            "root_id": task_id,
            "argsrepr": saferepr(tuple(args), 1024),
        }
        body = base64.b64encode(orjson.dumps([args, {}, embed])).decode()
        properties = {
            **template["properties"],
            "correlation_id": task_id,
            "delivery_tag": str(uuid.uuid4()),
        }
        pipe.lpush(
            STAGING,
            orjson.dumps({**template, "body": body, "headers": headers, "properties": properties}),
        )
        if n % 500 == 499:
            pipe.execute()
    pipe.execute()


async def celery_throughput(
    handler: str, workers: int, count: int, pool: list[dict[str, Any]]
) -> float:
    from delivery_support.celery_app import COUNT_KEY, END_KEY

    client = redis.Redis.from_url(CELERY_BROKER)
    client.flushdb()
    task = celery_task(handler)
    with tempfile.TemporaryDirectory(prefix="celery-bench-run-") as tmp:
        folder = Path(tmp)
        async with children(start_celery_workers(handler, workers, folder)) as started:
            await asyncio.to_thread(stage, client, task, pool, count)
            if client.llen(STAGING) != count:
                raise RuntimeError(f"staged {client.llen(STAGING)} of {count} tasks")
            await wait_celery_ready(client, started)
            published = time.time()
            client.rename(STAGING, "celery")
            deadline = time.monotonic() + max(120.0, count / 100)
            while (end := client.get(END_KEY)) is None:
                for child in started:
                    child.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"celery ran {client.get(COUNT_KEY)!r} of {count} tasks")
                await asyncio.sleep(0.01)
            done = int(client.get(COUNT_KEY) or 0)
    client.close()
    if done < count:
        raise RuntimeError(f"celery counted {done} of {count}")
    return count / (float(end) - published)


def produce_celery_at_rate(
    task: Any, pool: list[dict[str, Any]], per_second: float, seconds: float
) -> tuple[int, list[float]]:
    """Like ``produce_at_rate``, with ``apply_async`` per task; (sent, publish seconds each)."""
    sent = 0
    published = []
    start = time.perf_counter()
    with task.app.producer_or_acquire() as producer:
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(per_second * elapsed) - sent
            for n in range(sent, sent + max(due, 0)):
                stamp = time.time()
                data = {**pool[n % len(pool)], "sent_at": stamp}
                task.apply_async((data, 0), producer=producer)
                published.append(time.time() - stamp)
            sent += max(due, 0)
            time.sleep(0.005)
    return sent, published


async def celery_latency(per_second: float, seconds: float, pool: list[dict[str, Any]]) -> Latency:
    from delivery_support.celery_app import LATENCY_KEY

    client = redis.Redis.from_url(CELERY_BROKER)
    client.flushdb()
    task = celery_task("latency")
    with tempfile.TemporaryDirectory(prefix="celery-bench-run-") as tmp:
        async with children(start_celery_workers("noop", 1, Path(tmp))) as started:
            await wait_celery_ready(client, started)
            begun = time.time()
            sent, published = await asyncio.to_thread(
                produce_celery_at_rate, task, pool, per_second, seconds
            )
            deadline = time.monotonic() + 120
            while client.llen(LATENCY_KEY) < sent:
                started[0].check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"celery ran {client.llen(LATENCY_KEY)} of {sent} tasks")
                await asyncio.sleep(0.01)
            finished = time.time()
            raw = [float(v) * 1000 for v in client.lrange(LATENCY_KEY, 0, -1)]
    client.close()
    skip = int(per_second * min(LATENCY_WARMUP, seconds / 3))
    delays = raw[skip:] or raw
    publishing = [d * 1000 for d in published[skip:] or published]
    return Latency(
        percentile(delays, 0.50),
        percentile(delays, 0.99),
        sent / (finished - begun),
        percentile(publishing, 0.99),
    )


# -- the plan ----------------------------------------------------------------------------


async def bench_artery(store: str, plan: Plan, postgres_url: str, into: Results) -> None:
    pool = [make_order(n) for n in range(1024)]
    for handler in HANDLERS:
        for workers in WORKER_COUNTS:
            key = ("artery", store, handler, workers)
            samples = into.throughput.setdefault(key, Samples())
            for run in range(plan.runs):
                with fresh_store(store, postgres_url) as url:
                    value = await artery_throughput(
                        url, handler, workers, plan.artery_events[handler], pool, plan.lease_ttl
                    )
                samples.add(value)
                log(f"  artery {store} {handler} x{workers} run {run + 1}: {rate(value)}/s")
    peak = into.throughput[("artery", store, "noop", 1)].median
    half = round(peak / 2, -2)
    rows: list[tuple[LatencyRow, float | None, int]] = [
        (LatencyRow("artery", store, half, "half of peak", goal=True), None, plan.runs),
    ]
    if plan.diagnostics:  # one run each: the floor at light load, and what the poll costs
        rows += [
            (LatencyRow("artery", store, 1000.0, "light load (1 run)", goal=False), None, 1),
            (LatencyRow("artery", store, half, "half peak, poll 5 ms (1 run)", False), 0.005, 1),
        ]
    for row, poll, runs in rows:
        for run in range(runs):
            with fresh_store(store, postgres_url) as url:
                got = await artery_latency(url, row.offered, plan.latency_seconds, pool, poll)
            row.add(got)
            log(
                f"  artery {store} {rate(row.offered)}/s {row.note} run {run + 1}:"
                f" p50 {got.p50:.1f} p99 {got.p99:.1f} ms (publish p99 {got.publish_p99:.1f} ms)"
            )
        into.latency.append(row)


async def bench_celery(plan: Plan, into: Results) -> None:
    pool = [make_order(n) for n in range(1024)]
    for handler in HANDLERS:
        for workers in WORKER_COUNTS:
            key = ("celery", "redis", handler, workers)
            samples = into.throughput.setdefault(key, Samples())
            for run in range(plan.runs):
                value = await celery_throughput(handler, workers, plan.celery_events[handler], pool)
                samples.add(value)
                log(f"  celery redis {handler} x{workers} run {run + 1}: {rate(value)}/s")
    peak = into.throughput[("celery", "redis", "noop", 1)].median
    row = LatencyRow("celery", "redis", round(peak / 2, -1), "half of peak", goal=False)
    for run in range(plan.runs):
        got = await celery_latency(row.offered, plan.latency_seconds, pool)
        row.add(got)
        log(
            f"  celery {rate(row.offered)}/s run {run + 1}: p50 {got.p50:.1f} p99 {got.p99:.1f}"
            f" ms (publish p99 {got.publish_p99:.1f} ms)"
        )
    into.latency.append(row)


# -- report ------------------------------------------------------------------------------

STORE_LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis"}


def report(results: Results, plan: Plan) -> str:
    runs = f" (median of {plan.runs})" if plan.runs > 1 else ""
    headers = (
        "system",
        "store/broker",
        "handler",
        "workers",
        "load",
        f"events/s{runs}",
        "min-max",
        "p50 ms",
        "p99 ms",
        "publish p99 ms",
    )
    rows = []
    for (system, store, handler, workers), samples in results.throughput.items():
        events = plan.artery_events if system == "artery" else plan.celery_events
        rows.append(
            [
                system,
                STORE_LABEL[store],
                handler,
                str(workers),
                f"backlog {events[handler]:,}",
                rate(samples.median),
                samples.spread(rate),
                "",
                "",
                "",
            ]
        )
    for row in results.latency:
        rows.append(
            [
                row.system,
                STORE_LABEL[row.store],
                "noop",
                "1",
                f"{rate(row.offered)}/s: {row.note}",
                rate(row.delivered.median),
                row.delivered.spread(rate),
                f"{row.p50.median:.1f}",
                f"{row.p99.median:.1f}",
                f"{row.publish_p99.median:.1f}",
            ]
        )
    lines = [table(headers, rows, right=(3, 5, 6, 7, 8, 9)), ""]
    tp = results.throughput
    for handler in HANDLERS:
        for workers in WORKER_COUNTS:
            celery = tp.get(("celery", "redis", handler, workers))
            for store in STORES:
                artery = tp.get(("artery", store, handler, workers))
                if celery is None or artery is None:
                    continue
                value = artery.median / celery.median
                goal = handler == "noop" and workers == 1 and store == "sqlite"
                suffix = f" (goal >= {RATIO_GOAL:g}x): {verdict(value >= RATIO_GOAL)}"
                lines.append(
                    f"Artery/Celery ({handler}, {workers} worker{'s' if workers > 1 else ''},"
                    f" {STORE_LABEL[store]}): {ratio(value)}{suffix if goal else ''}"
                )
    lines.append("")
    noop = tp.get(("artery", "sqlite", "noop", 1))
    if noop is not None:
        lines.append(
            f">= {THROUGHPUT_GOAL:,.0f} events/s noop SQLite 1 worker: {rate(noop.median)}/s"
            f" {verdict(noop.median >= THROUGHPUT_GOAL)}"
        )
    for row in results.latency:
        if row.goal:
            lines.append(
                f"p99 < {P99_GOAL_MS:g} ms at half peak ({STORE_LABEL[row.store]},"
                f" {rate(row.offered)}/s): {row.p99.median:.1f} ms"
                f" {verdict(row.p99.median < P99_GOAL_MS)}"
            )
    lines.extend(observability_report(results))
    lines.extend(results.notes)
    return "\n".join(lines)


async def bench_observability(store: str, plan: Plan, postgres_url: str, into: Results) -> None:
    """noop x1 throughput with metrics and tracing off, on (no collector) and exporting
    every span to a local OTLP sink, alternated run by run so drift hits each alike."""
    pool = [make_order(n) for n in range(1024)]
    into.observed_store = store
    with tempfile.TemporaryDirectory(prefix="artery-bench-otlp-") as tmp:
        port = free_port()
        sink_argv = [
            sys.executable,
            str(BENCH / "observe_support/otlp_sink.py"),
            "--port",
            str(port),
        ]
        async with children([spawn("otlp-sink", sink_argv, Path(tmp))]):
            await asyncio.sleep(1.0)  # the sink listens before the first export (1 s batches)
            sink = f"http://127.0.0.1:{port}"
            for run in range(plan.runs):
                for mode in MODES:
                    with fresh_store(store, postgres_url) as url:
                        value = await artery_throughput(
                            url, "noop", 1, plan.artery_events["noop"], pool,
                            env=environment(mode, sink),
                        )  # fmt: skip
                    into.observed.setdefault(mode, Samples()).add(value)
                    log(f"  observability {mode} {store} noop x1 run {run + 1}: {rate(value)}/s")


def observability_report(results: Results) -> list[str]:
    off = results.observed.get("off")
    if off is None:
        return []
    lines = ["", f"observability, noop x1 on {STORE_LABEL[results.observed_store]}:"]
    for mode in MODES:
        found = results.observed.get(mode)
        if found is None:
            continue
        cost = 1 - found.median / off.median
        shown = "" if mode == "off" else f", costs {100 * cost:.0f}% of off"
        goal = "" if mode == "off" else f" (goal <= {100 * OBSERVE_COST_GOAL:.0f}%):"
        check = "" if mode == "off" else f" {verdict(cost <= OBSERVE_COST_GOAL)}"
        lines.append(
            f"  metrics + tracing {mode}: {rate(found.median)}/s ({found.spread(rate)}){shown}"
            f"{goal}{check}"
        )
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def describe(plan: Plan, systems: list[str], stores: list[str]) -> str:
    import celery

    event = make_order(0)
    stored = len(App("x").event(SUBJECT, event, key=partition_key(event)).to_json())
    return "\n".join(
        [
            f"Artery delivery benchmark: Python {platform.python_version()},"
            f" SQLite {sqlite3.sqlite_version}, Celery {celery.__version__},"
            f" {os.cpu_count()} CPUs, {plan.runs} run(s) per row; load average at start"
            f" {os.getloadavg()[0]:.2f} (other work on this machine shares the CPUs)",
            f"event data {len(orjson.dumps(event)):,} B JSON ({stored:,} B stored as a"
            f" CloudEvent), {PARTITIONS} partitions; systems {','.join(systems)};"
            f" Artery stores {','.join(stores)} (SQLite synchronous=FULL)",
            f"Artery: consumer concurrency {ARTERY_CONCURRENCY}, backlogs"
            f" {plan.artery_events}; Celery: pools {CELERY_POOL} (pool, threads,"
            f" prefetch multiplier), backlogs {plan.celery_events}",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common_parser(__doc__, "tiny backlogs, one run")
    parser.add_argument("--only", choices=SYSTEMS, help="run one system only")
    parser.add_argument(
        "--dedupe",
        action="store_true",
        help="Artery consumers with dedupe=True: every completion is a lease-fenced write",
    )
    return checked_args(parser, argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs is not None:
        plan = dataclasses.replace(plan, runs=args.runs)
    systems = [args.only] if args.only else list(SYSTEMS)
    stores: list[str] = args.stores if "artery" in systems else []
    stores = reachable_stores(stores, args.postgres)
    if "celery" in systems:
        try:
            redis.Redis.from_url(CELERY_BROKER).ping()
        except redis.RedisError as exc:
            log(f"celery: skipped, {CELERY_BROKER} is unreachable: {exc}")
            systems.remove("celery")
    if not stores and "celery" not in systems:
        return 2
    if args.dedupe:  # the worker processes inherit it
        os.environ[DEDUPE_ENV] = "1"
    print(describe(plan, systems, stores), end="\n", flush=True)
    print(f"Artery consumers: dedupe={args.dedupe}", end="\n\n", flush=True)
    results = Results()
    started = time.perf_counter()
    for store in stores:
        await bench_artery(store, plan, args.postgres, results)
    if stores:
        await bench_observability(stores[0], plan, args.postgres, results)
    if "celery" in systems:
        await bench_celery(plan, results)
    results.notes.append(
        f"\n(total benchmark time {time.perf_counter() - started:.0f} s;"
        f" load average at the end {os.getloadavg()[0]:.2f})"
    )
    text = report(results, plan)
    print(text)
    passed = "FAIL" not in text
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
