"""The console's speed: its listing pages beside the admin API's JSON for the same data, with
100,000 events, 10,000 workflow runs and 1,000 dead letters in a SQLite store.

The store (a SQLite file in a temp dir, Artery's defaults: WAL, synchronous=FULL) is filled
through the app's own paths by ``console_support/seed.py`` (a day of per-minute delivery
records by the runtime's ``Records``; ``app.publish_many`` in batches of 1,000, every event
consumed; the Workflows API, run by the engine; dead letters buried by the delivery runner
when a consumer refuses an order on its only attempt), with the app of
``console_support/shop_app.py`` (three integrations, contracts with ``pii`` fields,
consumers, SLOs, a workflow) running in role ``run``. Then a fresh app serves the same
store in role ``gateway`` (``app.running("gateway", listen=Listen("127.0.0.1", 0))``): HTTP
alone, no worker competing for the CPU while pages are timed.

Each row is one console page and the admin call a script would make for the same data:

    /console/catalog        beside  /admin/consumers
    /console/health         beside  /admin/slos
    /console/dead-letters   beside  /admin/dead-letters
    /console/runs           beside  /admin/workflows/runs

Each row gets its own API key (``console:read`` + ``admin:read``): the page is fetched with
the session cookie that key was exchanged for at ``/console/sign-in``, the JSON with the key
as a bearer token. Requests are sequential, one at a time, page and JSON alternating, after
a warm-up of each; latency is from sending the request to reading the whole answer, by an
``httpx.AsyncClient`` on the server's own event loop (so both columns include the same
client cost). Every answer must be 200 and HTML for a page, JSON for the API: anything else
is printed (stderr), its row shows FAILED and the bench exits 1 after measuring the other
rows; a page answering 404 is reported "not built" instead (pages land one by one). The
gate's rate limits are per client and route (pages 1,200/min per viewer, admin routes
600/min per key), so one key per row holds ``--requests`` + warm-up under both.

Goal (issue 17): every page's p95 under 200 ms.

    .venv/bin/python bench/console.py               # 100k events, 200 requests per row (~15 s)
    .venv/bin/python bench/console.py --quick       # 10k events, 30 requests (smoke test)
    .venv/bin/python bench/console.py --check       # exit 1 when a page misses the goal
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from common import sqlite_dir, table
from console_support.seed import Sizes, fill
from console_support.shop_app import shop_app

from artery import App, Listen
from artery.gateway.auth.keys import ApiKeys

GOAL_MS = 200.0  # every page's p95
FULL = Sizes(events=100_000, runs=10_000, dead=1_000)
QUICK = Sizes(events=10_000, runs=1_000, dead=100)
WARMUP = 20
ADMIN_QUOTA = 600  # requests per minute per key on an admin route (the gate's default)
SCOPES = ("console:read", "admin:read")


@dataclass(frozen=True)
class Row:
    name: str
    page: str
    json: str


ROWS = (
    Row("catalog", "/console/catalog", "/admin/consumers"),
    Row("health", "/console/health", "/admin/slos"),
    Row("dead letters", "/console/dead-letters", "/admin/dead-letters"),
    Row("runs", "/console/runs", "/admin/workflows/runs"),
)


@dataclass
class Timings:
    """Milliseconds per request, in the order they were made; ``problem`` once the target
    stops answering 200 ("not built" for a page answering 404, else what it answered)."""

    ms: list[float] = field(default_factory=list)
    size: int = 0  # bytes of the last answer
    problem: str | None = None

    def at(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Measured:
    row: Row
    page: Timings
    json: Timings


class Refused(Exception):
    """A target answered something other than 200 with the expected content type."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def timed(
    client: httpx.AsyncClient, path: str, html: bool, into: Timings, counted: bool
) -> None:
    """One GET, kept in ``into`` when ``counted``; anything but 200 (HTML for a page, JSON
    for the API) is noted as ``into.problem`` and the target is not asked again."""
    start = time.perf_counter()
    answer = await client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    kind = answer.headers.get("content-type", "")
    wanted = "text/html" if html else "application/json"
    if answer.status_code == 404 and html:
        into.problem = "not built"
        log(f"  GET {path}: 404, not built yet")
    elif answer.status_code != 200 or not kind.startswith(wanted):
        into.problem = f"FAILED ({answer.status_code})"
        log(
            f"  GET {path} FAILED: {answer.status_code} ({kind or 'no content-type'}),"
            f" not 200 {wanted}: {answer.text[:500]}"
        )
    elif counted:
        into.ms.append(elapsed)
        into.size = len(answer.content)


@contextlib.asynccontextmanager
async def signed_in(
    app: App, base: str, name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A browser-like client holding a console session, and an API client, for one new key."""
    secret, _ = await ApiKeys(app.store).create(name, SCOPES)
    bearer = {"Authorization": f"Bearer {secret}"}
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as page,
        httpx.AsyncClient(base_url=base, timeout=30, headers=bearer) as api,
    ):
        answer = await page.post("/console/sign-in", data={"key": secret})
        if answer.status_code != 303 or "artery_console" not in page.cookies:
            raise RuntimeError(f"sign-in answered {answer.status_code}: {answer.text[:500]}")
        yield page, api


async def measure(app: App, base: str, row: Row, requests: int) -> Measured:
    found = Measured(row, Timings(), Timings())
    async with signed_in(app, base, f"bench-{row.name.replace(' ', '-')}") as (browser, api):
        for n in range(WARMUP + requests):
            counted = n >= WARMUP
            if found.page.problem is None:
                await timed(browser, row.page, True, found.page, counted)
            if found.json.problem is None:
                await timed(api, row.json, False, found.json, counted)
    return found


async def bench(sizes: Sizes, requests: int) -> tuple[list[Measured], float]:
    with sqlite_dir(prefix="artery-bench-console-") as folder:
        store = f"sqlite:///{folder}/artery.db"
        log(
            f"filling {store}: {sizes.events:,} events, {sizes.runs:,} runs,"
            f" {sizes.dead:,} dead letters"
        )
        async with shop_app(store).running("run") as filling:
            took = await fill(filling, sizes, log)
        found = []
        async with shop_app(store).running("gateway", listen=Listen("127.0.0.1", 0)) as app:
            assert app.http is not None
            for row in ROWS:
                log(f"timing {row.page} and {row.json}")
                found.append(await measure(app, app.http.url, row, requests))
    return found, took.total


def ms(value: float) -> str:
    return f"{value:.1f}"


def report(found: list[Measured]) -> tuple[str, bool, bool]:
    """The table and its verdict; whether every page met the goal, and whether anything
    failed (answered neither 200 nor, for a page, 404)."""
    rows = []
    missed = []
    failed = False
    for each in found:
        page, json = each.page, each.json
        if json.problem:
            peer = [each.row.json, json.problem, "-"]
            failed = True
        else:
            peer = [each.row.json, ms(json.at(0.5)), ms(json.at(0.95))]
        if page.problem:
            rows.append([each.row.page, "-", "-", "-", "-", "-", *peer, "-", page.problem])
            missed.append(f"{each.row.page} {page.problem}")
            failed = failed or page.problem != "not built"
            continue
        met = page.at(0.95) < GOAL_MS
        if not met:
            missed.append(f"{each.row.page} p95 {ms(page.at(0.95))} ms")
        ratio = "-" if json.problem else f"{page.at(0.5) / json.at(0.5):.1f}x"
        rows.append(
            [each.row.page, str(len(page.ms)), ms(page.at(0.5)), ms(page.at(0.95)),
             ms(max(page.ms)), f"{page.size / 1024:.0f}", *peer, ratio, "yes" if met else "NO"]
        )  # fmt: skip
    text = table(
        ["page", "requests", "p50 ms", "p95 ms", "max ms", "KiB", "admin JSON call",
         "JSON p50", "JSON p95", "page/JSON", "goal met"],
        rows,
        right=[1, 2, 3, 4, 5, 7, 8, 9],
    )  # fmt: skip
    goal = f"goal (p95 < {GOAL_MS:g} ms on every page)"
    if missed:
        verdict = f"{goal} NOT met: {'; '.join(missed)}"
    else:
        verdict = f"{goal} met by all {len(found)} pages"
    return f"{text}\n\n{verdict}", not missed, failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of the store, 30 requests")
    parser.add_argument("--requests", type=int, help="timed requests per page (default 200)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a page misses the goal")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 30 if args.quick else 200
    most = ADMIN_QUOTA - WARMUP  # one key per row: its admin route allows ADMIN_QUOTA a minute
    if not 1 <= args.requests <= most:
        parser.error(f"--requests takes 1 to {most} (the admin API's rate limit per key)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    # the worker's warnings (a thousand dead-lettered orders) are the point, not news
    logging.getLogger("artery").setLevel(logging.ERROR)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    found, filled = asyncio.run(bench(sizes, args.requests))
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" {os.cpu_count()} CPUs; store: SQLite, {sizes.events:,} events,"
        f" {sizes.runs:,} workflow runs, {sizes.dead:,} dead letters (filled in {filled:.1f} s)"
    )
    print(
        f"{args.requests} sequential GETs per page and per JSON call, alternating, after"
        f" {WARMUP} of each as warm-up; served in role gateway\n"
    )
    text, passed, failed = report(found)
    print(text)
    print(
        f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        f" on {os.cpu_count()} CPUs; whole bench {time.perf_counter() - start:.1f} s"
    )
    if failed:
        print("FAILED: a page or admin call answered neither 200 nor 404 (see stderr)")
        return 1
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
