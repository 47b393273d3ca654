"""Scale-out: end-to-end events/s and publish-to-handler latency for 1, 2 and 4 worker
processes (``artery worker``) on PostgreSQL + NATS JetStream, and a model for N machines.

Each run: a fresh PostgreSQL schema and stream prefix; K worker processes start and take
the topic's 16 partitions between them (leases); this process publishes ``--events``
events in batches of 500 as fast as it can, then waits until the group has no lag. The
rate is events / (last handled - first published); latency is each handler's wall clock
minus the event's own time (same machine, same clock). The machine has 2 cores: the
publisher, PostgreSQL, nats-server and the workers share them, which is where the curve
flattens. The model multiplies the measured one-process rate by N machines and caps it by
what the shared services sustain, measured here too (nats-py acked publish rate; the
store's commits are not per event on the happy path: offsets are committed as
watermarks).

    .venv/bin/python bench/scale.py                 # 1, 2, 4 processes, 40,000 events
    .venv/bin/python bench/scale.py --quick         # 1 and 2 processes, 4,000 events
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import POSTGRES_URL, postgres_schema, rate, table

from artery import App, Event, Settings

HERE = Path(__file__).parent
SUPPORT = HERE / "scale_support"
NATS_URL = "nats://127.0.0.1:4222"
BATCH = 500
sys.path.insert(0, str(SUPPORT))


async def run(processes: int, events: int) -> tuple[float, float, float]:
    """(events/s, p50 s, p99 s) with ``processes`` workers."""
    from scale_app import ORDER, PARTITIONS

    prefix = "SCALE" + uuid.uuid4().hex[:6]
    log = f"{NATS_URL}?prefix={prefix}"
    with postgres_schema(POSTGRES_URL, prefix="bench_scale") as url, \
            tempfile.TemporaryDirectory() as out:  # fmt: skip
        env = {**os.environ, "ARTERY_STORE": url, "ARTERY_LOG": log, "SCALE_OUT": out,
               "ARTERY_LOG_LEVEL": "WARNING", "ARTERY_METRICS": "false"}  # fmt: skip
        app = App("scale", settings=Settings(store=url, log=log))
        orders = app.contract("scale.orders", schema=ORDER, partitions=PARTITIONS)
        async with app.running(None):
            workers = [
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "artery"), "worker", "scale_app:app"],
                    cwd=SUPPORT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
                for _ in range(processes)
            ]
            try:
                await settled(app, processes)
                started = time.time()
                for start in range(0, events, BATCH):
                    batch = [
                        Event(
                            type=orders.subject, source="bench", data={"n": n}, partitionkey=str(n)
                        )
                        for n in range(start, min(events, start + BATCH))
                    ]
                    await app.publish_many(orders, batch)
                while sum(p.lag for p in await app.log.positions("scale")) > 0:
                    await asyncio.sleep(0.05)
                took = time.time() - started
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    worker.wait(timeout=60)
        latencies = sorted(float(x) for f in Path(out).glob("*.txt") for x in f.read_text().split())
    assert len(latencies) >= events, f"handled {len(latencies)} of {events}"
    cut = statistics.quantiles(latencies, n=100)
    return events / took, cut[49], cut[98]


async def settled(app: App, processes: int) -> None:
    """Until the workers have joined and divided the partitions between them."""
    deadline = time.monotonic() + 60
    coordinator = app.log.coordinator("bench-observer", 4.0)
    while time.monotonic() < deadline:
        owners = set((await coordinator.owners("scale", "scale.orders")).values())
        if len(owners) == processes:
            await asyncio.sleep(2 * 4.0 / 3)  # a balance round: the shares even out
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{processes} worker(s) did not take the partitions within 60 s")


async def raw_nats_rate(count: int) -> float:
    from log_paths import raw_nats

    return await raw_nats(count, b"x" * 300)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 2 processes, fewer events")
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args(argv)
    counts = (1, 2) if args.quick else (1, 2, 4)
    events = args.events or (4_000 if args.quick else 40_000)
    print(f"scale-out on PostgreSQL + JetStream: {events:,} events, no-op handler,"
          f" {os.cpu_count()} CPUs shared by the publisher, the workers, PostgreSQL and"
          " nats-server\n")  # fmt: skip
    rows, rates = [], {}
    for processes in counts:
        per_s, p50, p99 = await run(processes, events)
        rates[processes] = per_s
        rows.append([str(processes), rate(per_s), f"{per_s / rates[1]:.2f}x",
                     f"{p50 * 1000:.1f}", f"{p99 * 1000:.1f}"])  # fmt: skip
    print(table(("worker processes", "events/s", "of 1 process", "p50 ms", "p99 ms"), rows,
                right=(0, 1, 2, 3, 4)))  # fmt: skip
    ceiling = await raw_nats_rate(min(events, 20_000))
    print(f"\nshared-service ceiling here: nats-py acked publish {rate(ceiling)}/s")
    model = [
        [str(n), rate(min(n * rates[1], ceiling)),
         "JetStream publish" if n * rates[1] > ceiling else "worker CPU"]
        for n in (1, 2, 4, 8, 16)
    ]  # fmt: skip
    print("\nmodel: N machines, one worker process each, the same shared NATS and PostgreSQL")
    print(table(("machines", "events/s (model)", "bound by"), model, right=(0, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
