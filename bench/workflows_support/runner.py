"""One measuring process for ``bench/workflows.py``: one system (Artery or DBOS Transact) on
one fresh store, every mode and repeat of the plan, results as one JSON line on stdout.

    PYTHONPATH=bench .venv/bin/python -m workflows_support.runner '<plan as JSON>'

Each system gets its own process so that DBOS's process-wide singleton, its threads and its
logging never touch Artery's measurement (and the other way round).

The workload is the same for both: a workflow of three trivial async steps (each returns its
input + 1) started with a small JSON input (``{"n": i}``) and awaited to completion; every
result is checked (``n + 3``). A measurement runs ``concurrency`` asyncio tasks, each looping
"start a workflow, await its result", until ``count`` workflows were started or ``seconds``
passed (workflows already started still finish and count); the rate is completed workflows
divided by the time from the first start to the last completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from artery import WorkflowOptions

if TYPE_CHECKING:
    from artery import App
    from artery.store import Tx

RunOne = Callable[[int], Awaitable[int]]


@dataclass(frozen=True)
class Mode:
    name: str  # "sequential" | "64 concurrent"
    concurrency: int
    count: int  # stop starting workflows after this many ...
    seconds: float  # ... or after this long, whichever comes first


@dataclass(frozen=True)
class Plan:
    system: str  # "artery" | "dbos"
    store: str  # "sqlite" | "postgres"
    url: str
    modes: list[Mode]
    repeats: int
    warmup: int  # workflows run (at the highest concurrency) before measuring
    profile: str | None = None  # after measuring, cProfile one more 64-concurrent run into here


@dataclass
class Measurement:
    mode: str
    completed: int
    seconds: float
    rate: float
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by thread group
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Result:
    system: str
    store: str
    durability: dict[str, str]
    measurements: list[Measurement]
    version: str


# -- measuring -----------------------------------------------------------------------------


async def drive(
    run_one: RunOne, concurrency: int, count: int, seconds: float
) -> tuple[int, float, list[float]]:
    """``concurrency`` loops of start+await; returns (completed, elapsed seconds, latencies)."""
    started = 0
    completed = 0
    latencies: list[float] = []
    begin = time.perf_counter()
    deadline = begin + seconds

    async def loop() -> None:
        nonlocal started, completed
        while started < count and time.perf_counter() < deadline:
            n = started
            started += 1
            began = time.perf_counter()
            result = await run_one(n)
            latencies.append(time.perf_counter() - began)
            if result != n + 3:
                raise AssertionError(f"workflow {n} returned {result!r}, expected {n + 3}")
            completed += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return completed, time.perf_counter() - begin, latencies


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process's threads, grouped by name prefix."""
    groups: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            used = time.clock_gettime(clock)
        except (OSError, AttributeError):
            continue
        name = "event loop" if thread is threading.main_thread() else _group(thread.name)
        groups[name] = groups.get(name, 0.0) + used
    return groups


def _group(name: str) -> str:
    for prefix in ("artery-writer", "artery-reader", "dbos-executor", "asyncio"):
        if name.startswith(prefix):
            return prefix
    return "other"


async def measure_all(
    plan: Plan, run_one: RunOne, counters: Callable[[], dict[str, float]]
) -> list[Measurement]:
    widest = max(m.concurrency for m in plan.modes)
    if plan.warmup:
        await drive(run_one, min(widest, plan.warmup), plan.warmup, 60.0)
    out: list[Measurement] = []
    for _ in range(plan.repeats):
        for mode in plan.modes:
            before_cpu, before = thread_cpu(), counters()
            completed, elapsed, latencies = await drive(
                run_one, mode.concurrency, mode.count, mode.seconds
            )
            after_cpu, after = thread_cpu(), counters()
            latencies.sort()
            extra = {k: after[k] - before.get(k, 0.0) for k in after}
            for label, q in (("p50_ms", 0.5), ("p99_ms", 0.99), ("max_ms", 1.0)):
                extra[label] = 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]
            out.append(
                Measurement(
                    mode.name,
                    completed,
                    elapsed,
                    completed / elapsed,
                    {k: after_cpu[k] - before_cpu.get(k, 0.0) for k in after_cpu},
                    extra,
                )
            )
    if plan.profile:  # not part of the figures: the profiler slows the event loop down
        mode = max(plan.modes, key=lambda m: m.concurrency)
        profiler = cProfile.Profile()
        profiler.enable()
        await drive(run_one, mode.concurrency, mode.count, mode.seconds)
        profiler.disable()
        profiler.dump_stats(plan.profile)
    return out


# -- Artery ----------------------------------------------------------------------------------


async def plus_one(value: int) -> int:
    return value + 1


@contextlib.asynccontextmanager
async def artery_system(
    plan: Plan,
) -> AsyncIterator[tuple[RunOne, Callable[[], dict[str, float]], App]]:
    from artery import App, WorkflowContext
    from artery.config import Settings

    app = App("bench-workflows", settings=Settings(store=plan.url))
    app.workflow_options = WorkflowOptions(concurrency=256)

    @app.workflow("three_steps")
    async def three_steps(ctx: WorkflowContext, data: dict[str, int]) -> dict[str, int]:
        n = await ctx.step(plus_one, data["n"])
        n = await ctx.step(plus_one, n)
        n = await ctx.step(plus_one, n)
        return {"n": n}

    async def run_one(i: int) -> int:
        handle = await app.start_workflow("three_steps", {"n": i})
        result = await handle.result()
        return int(result["n"])

    busy = {"writer_busy_s": 0.0, "readers_busy_s": 0.0}
    lock = threading.Lock()

    def timed(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wall time spent inside ``fn`` (a store thread's unit of work), summed."""

        def wrapper(*args: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent = time.perf_counter() - began
                with lock:
                    busy[key] += spent

        return wrapper

    def counters() -> dict[str, float]:
        store = app.store
        return {"commits": float(store.commits), "writes": float(store.writes), **busy}

    async with app.running():
        # Instrument this store instance only (looked up per call by the writer and reads).
        store = app.store
        setattr(store, "_commit_batch", timed("writer_busy_s", store._commit_batch))  # noqa: B010
        setattr(store, "_run_read", timed("readers_busy_s", store._run_read))  # noqa: B010
        yield run_one, counters, app


async def artery_durability(app: App, store: str) -> dict[str, str]:
    if store == "sqlite":

        def pragmas(tx: Tx) -> dict[str, str]:
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            return {
                "journal_mode": _value(tx, "PRAGMA journal_mode"),
                "synchronous": sync.get(int(_value(tx, "PRAGMA synchronous")), "?"),
            }

        return await app.store.write(pragmas)
    return await app.store.write(_postgres_settings)


def _value(tx: Tx, sql: str) -> str:
    row = tx.one(sql)
    return "?" if row is None else str(row[0])


def _postgres_settings(tx: Tx) -> dict[str, str]:
    return {
        "synchronous_commit": _value(tx, "SHOW synchronous_commit"),
        "fsync": _value(tx, "SHOW fsync"),
    }


async def run_artery(plan: Plan) -> Result:
    from importlib.metadata import version

    async with artery_system(plan) as (run_one, counters, app):
        durability = await artery_durability(app, plan.store)
        measurements = await measure_all(plan, run_one, counters)
    return Result("artery", plan.store, durability, measurements, version("artery"))


# -- DBOS Transact -----------------------------------------------------------------------------


def run_dbos(plan: Plan) -> Result:
    import sqlalchemy as sa
    from dbos import DBOS, DBOSConfig
    from dbos._dbos import _get_dbos_instance

    logging.getLogger("dbos").setLevel(logging.WARNING)

    @DBOS.step()
    async def dbos_plus_one(value: int) -> int:
        return value + 1

    @DBOS.workflow()
    async def dbos_three_steps(data: dict[str, int]) -> dict[str, int]:
        n = await dbos_plus_one(data["n"])
        n = await dbos_plus_one(n)
        n = await dbos_plus_one(n)
        return {"n": n}

    config: DBOSConfig = {
        "name": "bench-workflows",
        "system_database_url": plan.url,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    try:
        engine = _get_dbos_instance()._sys_db.engine
        with engine.connect() as conn:
            if plan.store == "sqlite":
                sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
                level = conn.execute(sa.text("PRAGMA synchronous")).scalar()
                durability = {
                    "journal_mode": str(conn.execute(sa.text("PRAGMA journal_mode")).scalar()),
                    "synchronous": sync.get(int(level or 0), "?"),
                }
            else:
                durability = {
                    "synchronous_commit": str(
                        conn.execute(sa.text("SHOW synchronous_commit")).scalar()
                    ),
                    "fsync": str(conn.execute(sa.text("SHOW fsync")).scalar()),
                }

        async def run_one(i: int) -> int:
            handle = await DBOS.start_workflow_async(dbos_three_steps, {"n": i})
            result = await handle.get_result()
            return int(result["n"])

        measurements = asyncio.run(measure_all(plan, run_one, dict))
    finally:
        DBOS.destroy(destroy_registry=True)
    from importlib.metadata import version

    return Result("dbos", plan.store, durability, measurements, version("dbos"))


# -- entry point -------------------------------------------------------------------------------


def parse_plan(text: str) -> Plan:
    raw = json.loads(text)
    raw["modes"] = [Mode(**m) for m in raw["modes"]]
    return Plan(**raw)


def main(argv: list[str]) -> None:
    plan = parse_plan(argv[1])
    result = run_dbos(plan) if plan.system == "dbos" else asyncio.run(run_artery(plan))
    print("RESULT " + json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main(sys.argv)
