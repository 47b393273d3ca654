"""Webhooks in and out, each beside its ceiling, in one run.

* Inbound: verified calls/s and p50/p99 of ``artery gateway`` serving a Standard Webhooks
  source (``webhooks_support/hooks_app.py``): each ~1 KiB Shopify-shaped order is verified
  (HMAC over the raw bytes), mapped (JMESPath), validated against its contract and appended
  durably (SQLite, synchronous=FULL) before the 200. Every call carries a fresh
  ``webhook-id`` and signature, made beforehand (``--headers-file`` of the load generator),
  so none is a duplicate. Beside it, the ceiling: the same uvicorn settings answering 200
  with no work (``webhooks_support/receiver.py``), under the same load.
* Outbound: deliveries/s of ``artery worker`` sending already-published events to a local
  receiver (signed, through the address guard, attempts recorded), from the receiver's
  first call to its last; beside it a bare httpx client posting the same body to the same
  receiver, 8 requests at a time (httpx's best: its pool slows past ~8, 296 calls/s at 64).

Goals (issue 15): inbound at least 50% of its ceiling; outbound at least 50% of the bare
client. The load generator is ``gateway_support/load.py`` (closed loop, 64 connections).

    .venv/bin/python bench/webhooks.py            # 3 runs (~2 minutes)
    .venv/bin/python bench/webhooks.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from common import Samples, sqlite_dir, table

from artery.webhooks import signing
from gateway import artery_cli, free_port, serving

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode()
GOAL = 0.50


def order() -> bytes:
    payload = orjson.loads((BENCH / "webhooks_support/payloads/shopify_order.json").read_bytes())
    payload["note"] = "x" * max(0, 1024 - len(orjson.dumps(payload)))  # ~1 KiB
    return orjson.dumps(payload)


def headers_file(body: bytes, count: int, folder: Path) -> Path:
    """``count`` distinct signed header sets (Standard Webhooks), one JSON list per line."""
    stamp = int(datetime.now(UTC).timestamp())
    lines = []
    for n in range(count):
        signed = signing.headers(f"msg_{n}", stamp, body, [SECRET])
        lines.append(orjson.dumps([f"{k}: {v}" for k, v in signed.items()]))
    path = folder / "signed.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


def load(url: str, body_path: Path, signed: Path, seconds: float, warmup: float) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "gateway_support/load.py"),
            url,
            "--body",
            str(body_path),
            "--headers-file",
            str(signed),
            "--connections",
            "64",
            "--seconds",
            str(seconds),
            "--warmup",
            str(warmup),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 120,
        check=True,
    )
    figures: dict = orjson.loads(done.stdout)
    bad = {k: v for k, v in figures["statuses"].items() if k != "200"}
    if bad or figures["errors"]:
        raise RuntimeError(f"{url}: not every answer was 200: {bad} {figures['errors']}")
    return figures


def inbound(runs: int, seconds: float, warmup: float, folder: Path) -> dict[str, dict]:
    body = order()
    body_path = folder / "order.json"
    body_path.write_bytes(body)
    per_second_guess = 20_000
    signed = headers_file(body, int(per_second_guess * (seconds + warmup) * 1.2), folder)
    env = {**os.environ, "ARTERY_SECRET_BENCH_HOOK": SECRET}
    rows: dict[str, dict] = {}
    ceiling_port = free_port()
    with serving(
        "receiver",
        [sys.executable, str(BENCH / "webhooks_support/receiver.py"), "--port", str(ceiling_port)],
        ceiling_port,
        folder,
    ) as base:
        rows["ceiling"] = _runs(
            lambda: load(base + "/hooks/shop", body_path, signed, seconds, warmup), runs
        )
    with sqlite_dir(prefix="artery-bench-hooks-") as store_dir:
        store = f"sqlite:///{store_dir}/artery.db"
        port = free_port()
        argv = artery_cli(
            "--store", store, "gateway", "webhooks_support.hooks_app:app", "--port", str(port)
        )
        os.environ.update(env)
        with serving("gateway", argv, port, folder) as base:
            rows["artery"] = _runs(
                lambda: load(base + "/hooks/shop", body_path, signed, seconds, warmup), runs
            )
    return rows


def _runs(measure, runs: int) -> dict:
    rps, p50, p99 = Samples(), Samples(), Samples()
    for _ in range(runs):
        figures = measure()
        rps.add(figures["rps"])
        p50.add(figures["p50_ms"])
        p99.add(figures["p99_ms"])
    return {"rps": rps, "p50": p50, "p99": p99}


def outbound(runs: int, events: int, folder: Path) -> dict[str, Samples]:
    body = order()
    rows = {"artery": Samples(), "bare": Samples()}
    for _ in range(runs):
        for row in ("bare", "artery"):
            port = free_port()
            argv = [
                sys.executable,
                str(BENCH / "webhooks_support/receiver.py"),
                "--port",
                str(port),
            ]
            with serving("receiver", argv, port, folder) as base:
                if row == "bare":
                    rows[row].add(asyncio.run(_bare_client(base + "/in", body, events)))
                else:
                    rows[row].add(_artery_outbound(base, events, folder))
    return rows


async def _bare_client(url: str, body: bytes, count: int) -> float:
    headers = {
        **signing.headers("m", int(time.time()), body, [SECRET]),
        "content-type": "application/json",
    }
    left = count
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(limits=limits) as client:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                (await client.post(url, content=body, headers=headers)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(8)))
        return count / (time.perf_counter() - start)


def _artery_outbound(receiver: str, count: int, folder: Path) -> float:
    with sqlite_dir(prefix="artery-bench-out-") as store_dir:
        store = f"sqlite:///{store_dir}/artery.db"
        env = {
            **os.environ,
            "ARTERY_SECRET_BENCH_HOOK": SECRET,
            "ARTERY_BENCH_RECEIVER": receiver + "/in",
            "ARTERY_STORE": store,
        }
        # the worker starts first (destinations deliver from "latest"), then events come
        port = free_port()
        argv = artery_cli(
            "--store",
            store,
            "worker",
            "webhooks_support.hooks_app:app",
            "--admin",
            f"127.0.0.1:{port}",
        )
        os.environ.update(env)
        with serving("worker", argv, port, folder):
            time.sleep(3)  # HTTP answers before the worker has joined its groups (at latest)
            subprocess.run(
                [sys.executable, "-c", _PUBLISH, str(count), store],
                check=True,
                cwd=BENCH,
                env=env,
                timeout=300,
            )
            deadline = time.monotonic() + 300
            while True:
                seen = httpx.get(receiver + "/count").json()
                if seen["calls"] >= count:
                    return (count - 1) / max(1e-9, seen["last"] - seen["first"])
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {seen['calls']} of {count} delivered in 300 s")
                time.sleep(0.05)


_PUBLISH = """
import asyncio, dataclasses, sys
from webhooks_support.hooks_app import app, orders
app.settings = dataclasses.replace(app.settings, store=sys.argv[2])
async def main(n):
    async with app.running(None):
        for start in range(0, n, 500):
            batch = [app.event(orders, {"order_id": str(i), "total_cents": i, "lines": []})
                     for i in range(start, min(n, start + 500))]
            await app.publish_many(orders, batch)
asyncio.run(main(int(sys.argv[1])))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one short run per row")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    runs, seconds, warmup, events = (
        (1, 2.0, 0.5, 500) if args.quick else (args.runs, 10.0, 2.0, 5000)
    )
    with tempfile.TemporaryDirectory(prefix="artery-bench-webhooks-") as tmp:
        folder = Path(tmp)
        ins = inbound(runs, seconds, warmup, folder)
        outs = outbound(runs, events, folder)
    print(
        f"{runs} run(s); inbound {seconds:g} s per run, 64 connections; outbound {events}"
        " events per run; SQLite (synchronous=FULL)"
    )
    ceiling, ours = ins["ceiling"], ins["artery"]
    print("\ninbound (Standard Webhooks, ~1 KiB: verify + map + validate + durable append):")
    print(
        table(
            ["row", "calls/s", "range", "p50 ms", "p99 ms", "of ceiling"],
            [
                [
                    "ceiling (200, no work)",
                    f"{ceiling['rps'].median:,.0f}",
                    ceiling["rps"].spread(lambda v: f"{v:,.0f}"),
                    f"{ceiling['p50'].median:.1f}",
                    f"{ceiling['p99'].median:.1f}",
                    "100%",
                ],
                [
                    "artery source",
                    f"{ours['rps'].median:,.0f}",
                    ours["rps"].spread(lambda v: f"{v:,.0f}"),
                    f"{ours['p50'].median:.1f}",
                    f"{ours['p99'].median:.1f}",
                    f"{ours['rps'].median / ceiling['rps'].median:.0%}",
                ],
            ],
            right=(1, 3, 4, 5),
        )
    )
    bare, art = outs["bare"], outs["artery"]
    print("\noutbound (signed deliveries to a local receiver):")
    print(
        table(
            ["row", "deliveries/s", "range", "of bare"],
            [
                [
                    "bare httpx client (8 at once)",
                    f"{bare.median:,.0f}",
                    bare.spread(lambda v: f"{v:,.0f}"),
                    "100%",
                ],
                [
                    "artery worker",
                    f"{art.median:,.0f}",
                    art.spread(lambda v: f"{v:,.0f}"),
                    f"{art.median / bare.median:.0%}",
                ],
            ],
            right=(1, 3),
        )
    )
    ratio_in = ours["rps"].median / ceiling["rps"].median
    ratio_out = art.median / bare.median
    print("\ngoals:")
    for name, ratio, of in (("inbound", ratio_in, "ceiling"), ("outbound", ratio_out, "bare")):
        verdict = "met" if ratio >= GOAL else "NOT met"
        print(f"  {name} {ratio:.0%} of {of} (goal >= 50%: {verdict})")


if __name__ == "__main__":
    main()
