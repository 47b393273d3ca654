"""Durable workflows: workflows/s and steps/s for 3-step workflows with trivial steps, one at a
time and with 64 running concurrently, for Artery on SQLite and PostgreSQL, beside the same
workload on DBOS Transact (the ``dbos`` package) on the same database and machine.

Workload (``bench/workflows_support/runner.py``): a workflow of three async steps, each
returning its input + 1, started with a small JSON input (``{"n": i}``) and awaited to
completion (its result is checked). "sequential": one workflow at a time (start, await the
result, next). "64 concurrent": 64 asyncio tasks, each looping start + await. A measurement
starts workflows until a fixed count is reached or a time box ends (those already started
still finish and count); workflows/s = completed / (first start to last completion), and
steps/s = 3 x workflows/s. A short warm-up precedes the measurements in every process.

Both systems run in-process on one event loop, with their defaults: Artery's engine via
``async with app.running()`` (``app.start_workflow`` + ``handle.result()``), DBOS with
``DBOS.launch()``, ``@DBOS.workflow``/``@DBOS.step`` async functions,
``DBOS.start_workflow_async`` + ``handle.get_result()``. Every (system, store, run) gets its
own process and a fresh database: a SQLite file in a new temp dir (Artery: WAL +
synchronous=FULL, its default; DBOS: its own SQLite settings, printed below), or a PostgreSQL
database created for the run (``CREATE DATABASE bench_...``, dropped after; DBOS's system
database is that database). Runs are interleaved (run 1 of every system and store, then run
2, ...) so that load from other processes hits all rows alike; figures are medians of the
runs, with their range.

    .venv/bin/python bench/workflows.py                   # full run (~2-3 minutes)
    .venv/bin/python bench/workflows.py --quick           # smoke test
    .venv/bin/python bench/workflows.py --only artery --stores sqlite
    .venv/bin/python bench/workflows.py --only artery --profile   # + cProfile of Artery @64
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from common import (
    Samples,
    checked_args,
    common_parser,
    rate,
    ratio,
    reachable_stores,
    sqlite_dir,
    table,
)
from psycopg.conninfo import conninfo_to_dict

BENCH = Path(__file__).resolve().parent
SYSTEMS = ("artery", "dbos")
SEQUENTIAL = "sequential"
CONCURRENT = "64 concurrent"
MODES = (SEQUENTIAL, CONCURRENT)
STEPS = 3
READERS = 2  # Artery's reader threads (SqlStore's default)
GOALS = {"sqlite": 1_500.0, "postgres": 1_000.0}  # Artery workflows/s at 64 concurrent


@dataclass(frozen=True)
class Budget:
    """How much one process measures: counts and time boxes per mode."""

    sequential: int
    concurrent: int
    seconds: float
    warmup: int

    def modes(self) -> list[dict[str, Any]]:
        return [
            {
                "name": SEQUENTIAL,
                "concurrency": 1,
                "count": self.sequential,
                "seconds": self.seconds,
            },
            {
                "name": CONCURRENT,
                "concurrency": 64,
                "count": self.concurrent,
                "seconds": self.seconds,
            },
        ]


@dataclass(frozen=True)
class Plan:
    runs: int
    budgets: dict[str, Budget]  # by system
    baseline_seconds: float


FULL = Plan(
    runs=3,
    budgets={
        "artery": Budget(sequential=600, concurrent=4_000, seconds=4.0, warmup=128),
        "dbos": Budget(sequential=150, concurrent=320, seconds=4.0, warmup=64),
    },
    baseline_seconds=1.0,
)
QUICK = Plan(
    runs=1,
    budgets={
        "artery": Budget(sequential=40, concurrent=256, seconds=1.5, warmup=16),
        "dbos": Budget(sequential=10, concurrent=64, seconds=1.5, warmup=8),
    },
    baseline_seconds=0.3,
)


@dataclass
class Row:
    """Every run of one (system, store, mode)."""

    rates: Samples = field(default_factory=Samples)
    p50_ms: Samples = field(default_factory=Samples)
    p99_ms: Samples = field(default_factory=Samples)
    per_commit: Samples = field(default_factory=Samples)  # Artery: writes per commit
    writer_busy: Samples = field(default_factory=Samples)  # Artery: share of wall time
    readers_busy: Samples = field(default_factory=Samples)  # ... of 2 reader threads
    cpu_us: dict[str, Samples] = field(default_factory=dict)  # CPU µs per workflow by thread


@dataclass
class Results:
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)
    durability: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, Samples] = field(default_factory=dict)  # raw single-row commits/s
    failures: list[str] = field(default_factory=list)

    def row(self, system: str, store: str, mode: str) -> Row:
        return self.rows.setdefault((system, store, mode), Row())


# -- fresh stores ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_store(store: str, system: str, postgres: str) -> Iterator[str]:
    """A URL to an empty store for one process: a SQLite file or a new PostgreSQL database."""
    if store == "sqlite":
        with sqlite_dir(f"artery-bench-wf-{system}-") as path:
            yield f"sqlite:///{path / f'{system}.db'}"
        return
    name = f"bench_wf_{system}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield _database_url(postgres, name)
    finally:
        with psycopg.connect(postgres, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _database_url(base: str, dbname: str) -> str:
    """``base`` pointed at another database (same host, user and options)."""
    parts = conninfo_to_dict(base)
    user = parts.get("user") or "postgres"
    host = parts.get("host") or "127.0.0.1"
    port = parts.get("port") or "5432"
    password = parts.get("password")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{dbname}"


# -- raw commit baselines -------------------------------------------------------------------


def sqlite_commits_per_s(seconds: float) -> float:
    """Single-row INSERT transactions/s on a fresh file, WAL + synchronous=FULL."""
    with tempfile.TemporaryDirectory(prefix="artery-bench-wf-raw-") as path:
        conn = sqlite3.connect(os.path.join(path, "raw.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        count, begin = 0, time.perf_counter()
        while time.perf_counter() - begin < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 64,))
            conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - begin
        conn.close()
    return count / elapsed


def postgres_commits_per_s(url: str, seconds: float) -> float:
    """Single-row INSERT transactions/s (autocommit), one connection, a throwaway schema."""
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        schema = f"bench_raw_{uuid.uuid4().hex[:10]}"
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"CREATE TABLE {schema}.t (id BIGSERIAL PRIMARY KEY, v TEXT)")
            count, begin = 0, time.perf_counter()
            while time.perf_counter() - begin < seconds:
                conn.execute(f"INSERT INTO {schema}.t (v) VALUES (%s)", ("x" * 64,))
                count += 1
            elapsed = time.perf_counter() - begin
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return count / elapsed


# -- running one process ---------------------------------------------------------------------


def run_process(
    system: str, store: str, url: str, budget: Budget, profile: str | None
) -> dict[str, Any]:
    plan = {
        "system": system,
        "store": store,
        "url": url,
        "modes": budget.modes(),
        "repeats": 1,
        "warmup": budget.warmup,
        "profile": profile,
    }
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    env.pop("DBOS__CLOUD", None)
    done = subprocess.run(
        [sys.executable, "-m", "workflows_support.runner", json.dumps(plan)],
        cwd=tempfile.gettempdir(),  # no artery.toml / dbos-config.yaml from the work tree
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"{system} on {store} exited {done.returncode} without a result:\n{tail}")


def record(results: Results, outcome: dict[str, Any]) -> None:
    system, store = outcome["system"], outcome["store"]
    results.durability[(system, store)] = outcome["durability"]
    results.versions[system] = outcome["version"]
    for m in outcome["measurements"]:
        row = results.row(system, store, m["mode"])
        row.rates.add(m["rate"])
        row.p50_ms.add(m["extra"]["p50_ms"])
        row.p99_ms.add(m["extra"]["p99_ms"])
        if m["extra"].get("commits"):
            row.per_commit.add(m["extra"]["writes"] / m["extra"]["commits"])
        if "writer_busy_s" in m["extra"]:
            row.writer_busy.add(m["extra"]["writer_busy_s"] / m["seconds"])
            row.readers_busy.add(m["extra"]["readers_busy_s"] / (READERS * m["seconds"]))
        for group, seconds in m["cpu"].items():
            row.cpu_us.setdefault(group, Samples()).add(1e6 * seconds / max(1, m["completed"]))


def bench(
    plan: Plan, systems: list[str], stores: list[str], postgres: str, profile: bool
) -> Results:
    results = Results()
    for run in range(1, plan.runs + 1):
        for store in stores:
            if store == "sqlite":
                raw = sqlite_commits_per_s(plan.baseline_seconds)
            else:
                raw = postgres_commits_per_s(postgres, plan.baseline_seconds)
            results.baseline.setdefault(store, Samples()).add(raw)
            for system in systems:
                where = None
                if profile and system == "artery" and run == 1:
                    where = str(Path(tempfile.gettempdir()) / f"artery-bench-wf-{store}.prof")
                began = time.perf_counter()
                try:
                    with fresh_store(store, system, postgres) as url:
                        outcome = run_process(system, store, url, plan.budgets[system], where)
                except (RuntimeError, subprocess.TimeoutExpired, psycopg.Error) as exc:
                    results.failures.append(f"run {run}, {system} on {store}: {exc}")
                    print(f"  run {run}: {system} on {store} FAILED", file=sys.stderr, flush=True)
                    continue
                record(results, outcome)
                figures = ", ".join(
                    f"{m['mode']} {rate(m['rate'])}/s" for m in outcome["measurements"]
                )
                print(
                    f"  run {run}/{plan.runs}: {system:6} {store:8} {figures}"
                    f" ({time.perf_counter() - began:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return results


# -- reporting -----------------------------------------------------------------------------


def report(results: Results, systems: list[str], stores: list[str]) -> tuple[str, bool]:
    headers = [
        "system",
        "store",
        "mode",
        "workflows/s",
        "range",
        "steps/s",
        "p50 ms",
        "p99 ms",
        "Artery/DBOS",
    ]
    rows: list[list[str]] = []
    for store in stores:
        for mode in MODES:
            for system in systems:
                row = results.rows.get((system, store, mode))
                if row is None or not row.rates.values:
                    continue
                versus = "-"
                dbos = results.rows.get(("dbos", store, mode))
                if system == "artery" and dbos is not None and dbos.rates.values:
                    versus = ratio(row.rates.median / dbos.rates.median)
                rows.append(
                    [
                        "Artery" if system == "artery" else "DBOS",
                        store,
                        mode,
                        rate(row.rates.median),
                        row.rates.spread(rate),
                        rate(STEPS * row.rates.median),
                        f"{row.p50_ms.median:,.1f}",
                        f"{row.p99_ms.median:,.1f}",
                        versus,
                    ]
                )
    lines = [table(headers, rows, right=[3, 4, 5, 6, 7, 8])]

    lines.append("")
    lines.append("goals (Artery, 64 concurrent, median workflows/s):")
    passed = True
    for store, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        goal = GOALS[store]
        row = results.rows.get(("artery", store, CONCURRENT))
        if row is None or not row.rates.values:
            lines.append(f">= {goal:,.0f} workflows/s {label} @64: NOT MEASURED")
            continue
        ok = row.rates.median >= goal
        passed = passed and ok
        verdict = "PASS" if ok else "FAIL"
        lines.append(
            f">= {goal:,.0f} workflows/s {label} @64: {verdict} ({rate(row.rates.median)}/s)"
        )

    if "artery" in systems:
        lines.append("")
        lines.append(
            "Artery diagnostics (medians): store writes per group commit; CPU µs per workflow"
            " by thread; busy = share of wall time the writer thread spends committing batches"
            " and the 2 reader threads spend in reads (CPU + waiting on the database)"
        )
        diag_rows: list[list[str]] = []
        for store in stores:
            for mode in MODES:
                row = results.rows.get(("artery", store, mode))
                if row is None or not row.rates.values:
                    continue
                cpu = row.cpu_us
                wall_us = 1e6 / row.rates.median

                def cell(group: str, cpu: dict[str, Samples] = cpu) -> str:
                    return f"{cpu[group].median:,.0f}" if group in cpu else "-"

                diag_rows.append(
                    [
                        store,
                        mode,
                        f"{row.per_commit.median:,.1f}" if row.per_commit.values else "-",
                        f"{wall_us:,.0f}",
                        cell("event loop"),
                        cell("artery-writer"),
                        cell("artery-reader"),
                        f"{100 * row.writer_busy.median:.0f}%",
                        f"{100 * row.readers_busy.median:.0f}%",
                    ]
                )
        lines.append(
            table(
                [
                    "store",
                    "mode",
                    "writes/commit",
                    "wall µs/wf",
                    "loop CPU µs/wf",
                    "writer CPU µs/wf",
                    "readers CPU µs/wf",
                    "writer busy",
                    "readers busy",
                ],
                diag_rows,
                right=[2, 3, 4, 5, 6, 7, 8],
            )
        )
    return "\n".join(lines), passed


def describe(plan: Plan, systems: list[str], stores: list[str], postgres: str) -> str:
    parts = [
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs, {plan.runs} run(s) per system and store (medians shown)",
    ]
    for system in systems:
        b = plan.budgets[system]
        parts.append(
            f"{system}: up to {b.sequential:,} workflows sequential / {b.concurrent:,} at 64"
            f" concurrent per run, each capped at {b.seconds:g} s; warm-up {b.warmup}"
        )
    if "postgres" in stores:
        parts.append(f"postgres: {_pg_version(postgres)}")
    return "\n".join(parts)


def durability_lines(results: Results, systems: list[str], stores: list[str]) -> str:
    lines = ["durability as measured inside each system's own connection:"]
    for system in systems:
        version = results.versions.get(system, "?")
        for store in stores:
            found = results.durability.get((system, store))
            if found is None:
                continue
            settings = ", ".join(f"{k}={v}" for k, v in found.items())
            label = "Artery" if system == "artery" else "DBOS"
            lines.append(f"  {label} {version} on {store}: {settings}")
    lines.append(
        "  Artery acknowledges a step once the group commit holding it returned (one commit"
        " per batch of waiting writes, across runs); DBOS records each step in a transaction"
        " of its own (SystemDatabase.record_operation_result)"
    )
    return "\n".join(lines)


def baseline_line(results: Results) -> str:
    parts = []
    for store, samples in results.baseline.items():
        label = "SQLite (WAL, synchronous=FULL)" if store == "sqlite" else "PostgreSQL"
        parts.append(f"{label} {rate(samples.median)}/s")
    return "raw single-row durable commits, one connection, this machine now: " + "; ".join(parts)


def _pg_version(url: str) -> str:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return "(unreachable)"
    return f"PostgreSQL {version[0] if version else '?'} at {url}"


def print_profile(stores: list[str]) -> None:
    for store in stores:
        path = Path(tempfile.gettempdir()) / f"artery-bench-wf-{store}.prof"
        if not path.exists():
            continue
        print(f"\ncProfile of one Artery 64-concurrent run on {store} (event loop thread only):")
        stats = pstats.Stats(str(path))
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common_parser(__doc__, "tiny counts, one run (smoke test)")
    parser.add_argument("--only", choices=SYSTEMS, help="measure one system only")
    parser.add_argument("--profile", action="store_true", help="cProfile Artery's first @64 run")
    return checked_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs is not None:
        plan = Plan(args.runs, plan.budgets, plan.baseline_seconds)
    systems = [args.only] if args.only else list(SYSTEMS)
    stores: list[str] = args.stores
    stores = reachable_stores(stores, args.postgres)
    if not stores:
        return 2
    print(describe(plan, systems, stores, args.postgres), end="\n\n", flush=True)
    load_before = os.getloadavg()[0]
    results = bench(plan, systems, stores, args.postgres, args.profile)
    text, passed = report(results, systems, stores)
    print(text)
    print()
    print(durability_lines(results, systems, stores))
    print(baseline_line(results))
    print(
        f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        f" on {os.cpu_count()} CPUs (anything else running skews these figures)"
    )
    for failure in results.failures:
        print(f"FAILED {failure}")
    if args.profile:
        print_profile(stores)
    if results.failures:
        return 1
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
