"""The front door: requests/s and latency of an API-key-authenticated, contract-validated
POST that publishes an event, beside a bare Starlette endpoint on the same server settings.

Rows, in one run:

* bare Starlette (the ceiling): ``bench/gateway_support/bare.py``, one route that reads the
  body and answers 202 with a JSON id, under uvicorn with ``HttpServer``'s settings (uvloop,
  httptools, no lifespan, no access log). No authentication, validation or store.
* full path: ``artery gateway gateway_support.orders_app:app`` (the real CLI, in its own
  process) serving ``app.ingest("/v1/orders", orders, scopes=["orders:write"])``, on a fresh
  SQLite file (WAL, synchronous=FULL) or a fresh PostgreSQL schema. The API key is made with
  ``artery keys create`` and sent as ``Authorization: Bearer``; every request's ~1 KiB order
  is validated against its contract and published (202 with the event id). The route's rate
  limit is on, with a quota never reached (``orders_app.py``).

Each server is one process; the load generator is another, on 127.0.0.1, always sending the
same body. Peak: ``wrk`` (Debian's package; one thread, 64 connections, a Lua script for the
POST) when installed, else ``bench/gateway_support/load.py`` in closed loop; a warm-up run
precedes the measured ones. Then p99 at half of the full path's peak (per store), measured
on the full path and on the bare endpoint at that same rate with ``load.py`` at a constant
rate: requests are due every 1/rate s and latency counts from when a request was due
(wrk2-style; Debian's wrk has no constant-rate mode). Every answer must be 202, else the
run fails. The machine's CPUs are shared by server, generator and database: the figures are
for this machine as it is, medians of ``--runs`` with their range.

Goals (issue 14): the full path at least 40% of the bare ceiling's requests/s, and its p99
under 20 ms at half of its peak.

    .venv/bin/python bench/gateway.py                    # full run (~3 minutes)
    .venv/bin/python bench/gateway.py --quick            # smoke test (~20 s)
    .venv/bin/python bench/gateway.py --stores sqlite --generator python
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from common import (
    Samples,
    checked_args,
    common_parser,
    postgres_schema,
    rate,
    reachable_stores,
    sqlite_dir,
    table,
)
from delivery_support.payload import make_order
from observe_support.modes import MODES, environment

BENCH = Path(__file__).resolve().parent
SUPPORT = BENCH / "gateway_support"
PATH = "/v1/orders"
SCOPE = "orders:write"
RATIO_GOAL = 0.40  # full path requests/s over the bare ceiling's
COST_GOAL = 0.15  # throughput metrics and tracing may cost (issue 16)
OBSERVED_NAMES = {
    "off": "off",
    "on": "on (no collector)",
    "sampled": "on, 10% of traces exported",
    "exported": "on, every span exported",
}
P99_GOAL_MS = 20.0  # full path p99 at half of its peak
GENERATORS = ("auto", "wrk", "python")


@dataclass(frozen=True)
class Plan:
    runs: int
    seconds: float  # per measured run
    warmup: float  # seconds of load before the measured runs on each server
    connections: int = 64


FULL = Plan(runs=3, seconds=10.0, warmup=2.0)
QUICK = Plan(runs=1, seconds=2.0, warmup=0.5)


@dataclass
class Figures:
    """One row's measurements: requests/s and latency percentiles (ms)."""

    rps: Samples = field(default_factory=Samples)
    p50: Samples = field(default_factory=Samples)
    p99: Samples = field(default_factory=Samples)

    def add(self, rps: float, p50: float, p99: float) -> None:
        self.rps.add(rps)
        self.p50.add(p50)
        self.p99.add(p99)


@dataclass(frozen=True)
class Target:
    """A server under load: where to POST, and the headers each request carries."""

    name: str
    url: str
    headers: tuple[str, ...] = ()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def artery_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from artery.cli import main; main()", *args]


@contextlib.contextmanager
def serving(
    name: str, argv: list[str], port: int, folder: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run a server process until the block ends (SIGTERM, then wait); yields its base URL
    once it answers HTTP. ``env`` is added to this process's environment."""
    err = folder / f"{name}.err"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            argv, stdout=stderr, stderr=stderr, cwd=BENCH, env={**os.environ, **(env or {})}
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(err)}")
            try:
                httpx.get(base + "/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer in 30 s:\n{tail(err)}") from None
                time.sleep(0.05)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@contextlib.contextmanager
def fresh_store(store: str, postgres_url: str) -> Iterator[str]:
    if store == "sqlite":
        with sqlite_dir(prefix="artery-bench-gateway-") as folder:
            yield f"sqlite:///{folder}/artery.db"
    else:
        with postgres_schema(postgres_url, prefix="bench_gateway") as url:
            yield url


def create_key(store_url: str) -> str:
    """An API key with the route's scope, made with the real CLI (``artery keys create``)."""
    done = subprocess.run(
        artery_cli("--store", store_url, "keys", "create", "bench", "--scope", SCOPE, "--json"),
        capture_output=True,
        text=True,
        cwd=BENCH,
        timeout=60,
        env={**os.environ, "COLUMNS": "400"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"artery keys create failed:\n{done.stdout}\n{done.stderr}")
    try:
        return str(orjson.loads(done.stdout)["key"])
    except (orjson.JSONDecodeError, KeyError):
        raise RuntimeError(f"artery keys create printed no key:\n{done.stdout}") from None


def check_answer(target: Target, body: bytes) -> None:
    """One request before the load: the path must answer 202, or nothing is measured."""
    headers = dict(h.split(": ", 1) for h in target.headers)
    answer = httpx.post(
        target.url,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=10.0,
    )
    if answer.status_code != 202:
        raise RuntimeError(f"{target.name} answered {answer.status_code}: {answer.text[:500]}")


# -- load generators -----------------------------------------------------------------------


def lua_script(body: bytes, headers: tuple[str, ...], folder: Path) -> Path:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = [==[{body.decode()}]==]",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    for header in headers:
        name, value = header.split(": ", 1)
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    path = folder / "post.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


_WRK_TIME = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(target: Target, body: bytes, plan: Plan, seconds: float, folder: Path) -> dict:
    script = lua_script(body, target.headers, folder)
    argv = [
        "wrk",
        "-t1",
        f"-c{plan.connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        target.url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    times = {q: float(v) * _UNIT_MS[u] for q, v, u in _WRK_TIME.findall(out)}
    if rps is None or set(times) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad or errors:
        raise RuntimeError(f"{target.name}: not every answer was 2xx under wrk:\n{out}")
    return {"rps": float(rps.group(1)), "p50_ms": times["50"], "p99_ms": times["99"]}


def run_python(
    target: Target,
    body: bytes,
    plan: Plan,
    seconds: float,
    folder: Path,
    *,
    per_second: float | None = None,
    warmup: float = 0.0,
) -> dict:
    payload = folder / "body.json"
    payload.write_bytes(body)
    argv = [
        sys.executable,
        str(SUPPORT / "load.py"),
        target.url,
        "--body",
        str(payload),
        "--connections",
        str(plan.connections),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    for header in target.headers:
        argv += ["--header", header]
    if per_second is not None:
        argv += ["--rate", f"{per_second:.1f}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 3 + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-2000:]}")
    result: dict = orjson.loads(done.stdout)
    wrong = {s: n for s, n in result["statuses"].items() if s != "202"}
    if wrong or result["errors"]:
        raise RuntimeError(f"{target.name}: answers {wrong}, errors {result['errors']}")
    return result


class Load:
    """Measures a target at peak (wrk or the Python generator) and at a constant rate."""

    def __init__(self, generator: str, plan: Plan, body: bytes, folder: Path) -> None:
        self.wrk = generator == "wrk" or (generator == "auto" and shutil.which("wrk") is not None)
        if generator == "wrk" and shutil.which("wrk") is None:
            raise RuntimeError("--generator wrk: wrk is not installed (apt-get install wrk)")
        self.generator = generator
        self.plan = plan
        self.body = body
        self.folder = folder

    @property
    def peak_tool(self) -> str:
        return "wrk" if self.wrk else "load.py"

    def peak(self, target: Target) -> Figures:
        check_answer(target, self.body)
        figures = Figures()
        self._peak_once(target, self.plan.warmup)  # warm-up, not counted
        for run in range(self.plan.runs):
            found = self._peak_once(target, self.plan.seconds)
            figures.add(found["rps"], found["p50_ms"], found["p99_ms"])
            log(f"    {target.name} peak run {run + 1}: {rate(found['rps'])}/s")
        return figures

    def _peak_once(self, target: Target, seconds: float) -> dict:
        if self.wrk:
            return run_wrk(target, self.body, self.plan, seconds, self.folder)
        return run_python(target, self.body, self.plan, seconds, self.folder)

    def steady(self, target: Target, per_second: float) -> Figures:
        figures = Figures()
        for run in range(self.plan.runs):
            found = run_python(
                target,
                self.body,
                self.plan,
                self.plan.seconds,
                self.folder,
                per_second=per_second,
                warmup=min(1.0, self.plan.seconds / 4),
            )
            figures.add(found["rps"], found["p50_ms"], found["p99_ms"])
            p99 = found["p99_ms"]
            log(f"    {target.name} at {rate(per_second)}/s run {run + 1}: p99 {p99:.1f} ms")
        return figures


# -- the benchmark -------------------------------------------------------------------------


@dataclass
class Results:
    bare: Figures | None = None
    full: dict[str, Figures] = field(default_factory=dict)  # store -> peak
    steady_full: dict[str, tuple[float, Figures]] = field(default_factory=dict)
    steady_bare: dict[str, tuple[float, Figures]] = field(default_factory=dict)
    observed: dict[str, Figures] = field(default_factory=dict)  # mode -> peak (first store)
    failures: list[str] = field(default_factory=list)


def bench(plan: Plan, stores: list[str], args: argparse.Namespace) -> tuple[Results, Load]:
    results = Results()
    body = orjson.dumps(make_order(1))
    with tempfile.TemporaryDirectory(prefix="artery-bench-gateway-") as tmp:
        folder = Path(tmp)
        load = Load(args.generator, plan, body, folder)
        bare_port = free_port()
        bare_argv = [sys.executable, str(SUPPORT / "bare.py"), "--port", str(bare_port)]
        with serving("bare", bare_argv, bare_port, folder) as bare_url:
            bare = Target("bare Starlette", bare_url + PATH)
            log("bare Starlette endpoint")
            results.bare = load.peak(bare)
            for store in stores:
                log(f"full path on {store}")
                try:
                    full_path(load, store, args.postgres, folder, results)
                except Exception as exc:  # reported; the other stores are still measured
                    results.failures.append(f"full path on {store}: {exc}")
                    continue
                half = results.full[store].rps.median / 2
                results.steady_bare[store] = (half, load.steady(bare, half))
        observability(load, stores[0], args.postgres, folder, results)
    return results, load


def full_path(load: Load, store: str, postgres: str, folder: Path, results: Results) -> None:
    with fresh_store(store, postgres) as url, gateway(url, store, folder) as full:
        results.full[store] = load.peak(full)
        half = results.full[store].rps.median / 2
        results.steady_full[store] = (half, load.steady(full, half))


@contextlib.contextmanager
def gateway(
    url: str, store: str, folder: Path, env: dict[str, str] | None = None
) -> Iterator[Target]:
    key = create_key(url)
    port = free_port()
    argv = artery_cli(
        "--store", url, "gateway", "gateway_support.orders_app:app", "--port", str(port)
    )
    with serving(f"gateway-{store}", argv, port, folder, env) as base:
        yield Target(f"full path ({store})", base + PATH, (f"Authorization: Bearer {key}",))


def observability(load: Load, store: str, postgres: str, folder: Path, results: Results) -> None:
    """The full path's peak with metrics and tracing off, on (the defaults: no collector)
    and with every span exported to a local OTLP sink; alternated run by run."""
    port = free_port()
    sink_argv = [sys.executable, str(BENCH / "observe_support/otlp_sink.py"), "--port", str(port)]
    with serving("otlp-sink", sink_argv, port, folder) as sink:
        for _ in range(load.plan.runs):
            for mode in MODES:
                log(f"full path on {store}, observability {mode}")
                with (
                    fresh_store(store, postgres) as url,
                    gateway(url, store, folder, environment(mode, sink)) as full,
                ):
                    once = Load(
                        load.generator,
                        dataclasses.replace(load.plan, runs=1),
                        load.body,
                        load.folder,
                    )
                    figures = once.peak(full)
                    results.observed.setdefault(mode, Figures()).add(
                        figures.rps.median, figures.p50.median, figures.p99.median
                    )


def ms(value: float) -> str:
    return f"{value:.1f}"


def report(results: Results, stores: list[str], load: Load) -> tuple[str, bool]:
    passed = True
    bare = results.bare
    assert bare is not None
    peak_rows = [
        ["bare Starlette (ceiling)", rate(bare.rps.median), bare.rps.spread(rate),
         ms(bare.p50.median), ms(bare.p99.median), "100%"]
    ]  # fmt: skip
    steady_rows = []
    goals = []
    for store in stores:
        full = results.full.get(store)
        if full is None:
            continue
        share = full.rps.median / bare.rps.median
        peak_rows.append(
            [f"full path, {store}", rate(full.rps.median), full.rps.spread(rate),
             ms(full.p50.median), ms(full.p99.median), f"{100 * share:.0f}%"]
        )  # fmt: skip
        half, steady = results.steady_full[store]
        _, bare_steady = results.steady_bare.get(store, (half, Figures()))
        for name, figures in (("bare Starlette", bare_steady), (f"full path, {store}", steady)):
            if figures.p99.values:
                steady_rows.append(
                    [name, rate(half), rate(figures.rps.median), ms(figures.p50.median),
                     ms(figures.p99.median), figures.p99.spread(ms)]
                )  # fmt: skip
        ratio_ok = share >= RATIO_GOAL
        p99_ok = steady.p99.median < P99_GOAL_MS
        passed = passed and ratio_ok and p99_ok
        goals.append(
            f"{store}: full/bare {100 * share:.0f}% (goal >= {100 * RATIO_GOAL:.0f}%:"
            f" {'met' if ratio_ok else 'NOT met'}); p99 at half peak"
            f" {ms(steady.p99.median)} ms (goal < {P99_GOAL_MS:g} ms:"
            f" {'met' if p99_ok else 'NOT met'})"
        )
    cost_rows, cost_goals = observability_report(results, stores[0])
    passed = passed and all("NOT" not in line for line in cost_goals)
    goals.extend(cost_goals)
    lines = [
        f"peak, {load.plan.connections} connections ({load.peak_tool}):",
        table(
            ["row", "req/s", "range", "p50 ms", "p99 ms", "of bare"],
            peak_rows,
            right=[1, 2, 3, 4, 5],
        ),
        "",
        "constant rate at half of the full path's peak (load.py, latency from when due):",
        table(
            ["row", "offered/s", "served/s", "p50 ms", "p99 ms", "p99 range"],
            steady_rows,
            right=[1, 2, 3, 4, 5],
        ),
        "",
        f"observability, full path on {stores[0]} (peak; runs alternate off, on, exported):",
        table(
            ["metrics + tracing", "req/s", "range", "p99 ms", "cost"], cost_rows, right=[1, 2, 3, 4]
        ),
        "",
        "goals:",
        *(f"  {line}" for line in goals),
    ]
    return "\n".join(lines), passed


def observability_report(results: Results, store: str) -> tuple[list[list[str]], list[str]]:
    off = results.observed.get("off")
    if off is None:
        return [], []
    rows, goals = [], []
    for mode in MODES:
        figures = results.observed.get(mode)
        if figures is None:
            continue
        cost = 1 - figures.rps.median / off.rps.median
        rows.append(
            [OBSERVED_NAMES[mode], rate(figures.rps.median), figures.rps.spread(rate),
             ms(figures.p99.median), "-" if mode == "off" else f"{100 * cost:.0f}%"]
        )  # fmt: skip
        if mode != "off":
            verdict = "met" if cost <= COST_GOAL else "NOT met"
            goals.append(
                f"observability {mode} on {store}: costs {100 * cost:.0f}% of the off"
                f" throughput (goal <= {100 * COST_GOAL:.0f}%: {verdict})"
            )
    return rows, goals


def describe(plan: Plan, stores: list[str], load: Load) -> str:
    wrk = shutil.which("wrk")
    version = "absent"
    if wrk:
        shown = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        version = shown.split("[")[0].strip() or "present"
    return (
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs; wrk: {version}; peak by {load.peak_tool}\n"
        f"{plan.runs} run(s) of {plan.seconds:g} s per row after a {plan.warmup:g} s warm-up"
        f" (medians shown); stores: {', '.join(stores)}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common_parser(__doc__, "short runs, one each (smoke test)")
    parser.add_argument(
        "--generator", choices=GENERATORS, default="auto", help="peak load: wrk or load.py"
    )
    return checked_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs is not None:
        plan = Plan(args.runs, plan.seconds, plan.warmup, plan.connections)
    stores = reachable_stores(args.stores, args.postgres)
    if not stores:
        return 2
    load_before = os.getloadavg()[0]
    results, load = bench(plan, stores, args)
    print(describe(plan, stores, load), end="\n\n")
    text, passed = report(results, stores, load)
    print(text)
    print(
        f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        f" on {os.cpu_count()} CPUs (anything else running skews these figures)"
    )
    for failure in results.failures:
        print(f"FAILED {failure}")
    if results.failures:
        return 1
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
