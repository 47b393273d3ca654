"""One Artery worker process for ``bench/delivery.py``.

    python bench/delivery_support/worker.py STORE_URL --handler noop|sleep20 \
        [--concurrency N] [--latency] --report PATH

Builds the benchmark app (the same contract the benchmark publishes to, one consumer in
group ``bench-delivery``) and runs ``app.serve()`` until SIGTERM. Its handler counts the
events it handled in-process (no store or network call per event); on exit it writes a JSON
report to ``--report``: handled count, wall-clock time of the first handler start and of
the last handler completion, and (with ``--latency``) every publish-to-start delay.

``ARTERY_BENCH_PROFILE=PREFIX`` runs the worker under cProfile (the event-loop thread) and
writes ``PREFIX.<pid>.prof`` on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/, for delivery_support

from artery import App, DeliveryContext, Event, Settings
from delivery_support.payload import DEDUPE_ENV, GROUP, PARTITIONS, SCHEMA, SUBJECT

HANDLERS = {"noop": 0.0, "sleep20": 0.02}


@dataclass
class Stats:
    count: int = 0
    first_start: float = 0.0
    last_done: float = 0.0
    # (sent_at, seconds from publish to handler start), with --latency
    latencies: list[tuple[float, float]] = field(default_factory=list)
    cpu: float = 0.0  # CPU seconds (all threads) from the first handler start (to ~the last)


def build_app(
    store: str,
    *,
    handler: str,
    concurrency: int,
    stats: Stats,
    latency: bool = False,
    worker_options: dict[str, float] | None = None,
    dedupe: bool = False,
) -> App:
    """The benchmark app; ``settings`` given outright so ARTERY_* or artery.toml cannot
    change durability (SQLite ``synchronous=FULL``)."""
    app = App("bench-delivery", settings=Settings.load(store=store, sqlite_synchronous="FULL"))
    orders = app.contract(SUBJECT, schema=SCHEMA, partitions=PARTITIONS)
    pause = HANDLERS[handler]
    cpu_at_first = [0.0]
    app.worker_options = dataclasses.replace(app.worker_options, **(worker_options or {}))

    @app.consumer(orders, group=GROUP, concurrency=concurrency, dedupe=dedupe)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        started = time.time()
        if not stats.first_start:
            stats.first_start = started
            cpu_at_first[0] = time.process_time()
        if latency:
            sent_at = event.data["sent_at"]
            stats.latencies.append((sent_at, started - sent_at))
        if pause:
            await asyncio.sleep(pause)  # the simulated partner call
        stats.count += 1
        stats.last_done = time.time()
        if latency and stats.count % 256 == 0:  # process_time() is a slow syscall here
            stats.cpu = time.process_time() - cpu_at_first[0]

    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="an Artery worker process for the benchmark")
    parser.add_argument("store")
    parser.add_argument("--handler", choices=sorted(HANDLERS), default="noop")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", action="store_true", help="record publish-to-start delays")
    parser.add_argument("--report", required=True, help="write the JSON report here on exit")
    parser.add_argument("--poll-interval", type=float, help="worker_options poll_interval")
    parser.add_argument("--lease-ttl", type=float, help="worker_options lease_ttl")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stats = Stats()
    options = {
        name: value
        for name, value in (("poll_interval", args.poll_interval), ("lease_ttl", args.lease_ttl))
        if value is not None
    }
    app = build_app(
        args.store,
        handler=args.handler,
        concurrency=args.concurrency,
        stats=stats,
        latency=args.latency,
        worker_options=options,
        dedupe=os.environ.get(DEDUPE_ENV) == "1",
    )
    profile_prefix = os.environ.get("ARTERY_BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_prefix else None
    if profiler is not None:
        profiler.enable()
    try:
        asyncio.run(app.serve())
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{profile_prefix}.{os.getpid()}.prof")
        Path(args.report).write_bytes(orjson.dumps(asdict(stats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
