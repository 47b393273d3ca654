"""Helpers shared by the benchmarks in ``bench/``: repeated measurement with medians, plain
text tables, and throwaway stores (a SQLite file in a temp dir, a fresh PostgreSQL schema).

Benchmarks run as scripts (``python bench/log.py``); they import this module as ``common``
because the script's directory is first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

POSTGRES_URL = os.environ.get(
    "ARTERY_BENCH_POSTGRES",
    os.environ.get("ARTERY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
)


@dataclass
class Samples:
    """Repeated measurements of one figure (e.g. events/s); report the median."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def spread(self, fmt: Callable[[float], str]) -> str:
        """``min-max`` (or just the value when measured once)."""
        if len(self.values) == 1:
            return fmt(self.values[0])
        return f"{fmt(self.low)}-{fmt(self.high)}"


def median_of(runs: int, measure: Callable[[], float]) -> Samples:
    """Call ``measure`` ``runs`` times (each returns one figure) and keep every result."""
    samples = Samples()
    for _ in range(runs):
        samples.add(measure())
    return samples


async def amedian_of(runs: int, measure: Callable[[], Awaitable[float]]) -> Samples:
    """``median_of`` for coroutine functions."""
    samples = Samples()
    for _ in range(runs):
        samples.add(await measure())
    return samples


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``; ``t.rate(n)`` is ``n / seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else float("inf")


def rate(value: float) -> str:
    """Events per second for a table cell: ``12,345``."""
    return f"{value:,.0f}"


def ratio(value: float) -> str:
    return f"{value:,.1f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """An aligned plain-text table; columns whose index is in ``right`` are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


@contextlib.contextmanager
def sqlite_dir(prefix: str = "artery-bench-") -> Iterator[Path]:
    """A temporary directory on the regular disk (not tmpfs, if /tmp is disk), removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


def postgres_unreachable(base_url: str = POSTGRES_URL) -> str | None:
    """``None`` when PostgreSQL answers at ``base_url``, else the first line of the error."""
    try:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextlib.contextmanager
def postgres_schema(base_url: str = POSTGRES_URL, prefix: str = "bench") -> Iterator[str]:
    """Create a fresh schema, yield a URL whose ``search_path`` is that schema, drop it after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


STORES = ("sqlite", "postgres")


def checked_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, then normalise the options every benchmark shares (--stores, --runs)."""
    args = parser.parse_args(argv)
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(args.stores) - set(STORES)
    if unknown or not args.stores:
        parser.error(f"--stores takes {','.join(STORES)}; got {sorted(unknown) or 'nothing'}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be 1 or more")
    return args


def common_parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; each adds its own on top."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--stores", default=",".join(STORES), help="comma-separated: sqlite,postgres"
    )
    parser.add_argument("--runs", type=int, help="runs per row (default 3, --quick 1)")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL base URL")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    return parser


def reachable_stores(stores: list[str], postgres_url: str) -> list[str]:
    """The stores to measure: PostgreSQL is skipped, with a note, when it cannot be reached."""
    if "postgres" not in stores:
        return stores
    problem = postgres_unreachable(postgres_url)
    if problem is None:
        return stores
    print(f"postgres: skipped, {postgres_url} is unreachable: {problem}", file=sys.stderr)
    return [s for s in stores if s != "postgres"]
