"""``make demo``: the commerce integrations against misbehaving partners, over real HTTP.

Starts the simulated partners (``partners.py``) and ``artery run app:app`` as separate
processes on 127.0.0.1 with a fresh SQLite file, has the shop send a few hundred orders
(duplicates, bad signatures, malformed ones, a silent stretch), takes the ERP down for a
while, approves some large orders through the CLI as a person would and lets the others
time out, then prints what happened and checks that the books balance (``books.py``).
Exits 1 when they do not. ``--keep-running`` leaves everything up for the console.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from books import Books, gather
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

HERE = Path(__file__).parent
ARTERY = str(Path(sys.executable).parent / "artery")
out = Console(highlight=False)


@dataclass
class Demo:
    """The running pieces and what the drive saw."""

    workdir: Path
    env: dict[str, str]
    artery_url: str
    partners_url: str
    key: str
    artery: subprocess.Popen[bytes] | None = None
    approved: list[str] = field(default_factory=list)
    exports: int = 0
    asked: set[str] = field(default_factory=set)
    silent_at: float | None = None
    started: float = field(default_factory=time.monotonic)

    def admin(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.AsyncClient(base_url=self.artery_url, headers=headers, timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings(workdir: Path, partners_url: str, approval_within: str) -> dict[str, str]:
    """The environment both processes share: the store, the secrets (never in code), and
    leave to reach the partners on loopback over plain http (a demo, not production)."""
    return {
        **os.environ,
        "ARTERY_STORE": f"sqlite:///{workdir / 'commerce.db'}",
        "ARTERY_SECRET_SHOP_HOOK": secrets.token_hex(24),
        "ARTERY_SECRET_CRM_HOOK": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "ARTERY_OUTBOUND_ALLOW_HTTP": "true",
        "ARTERY_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "ARTERY_LOG_FORMAT": "json",
        "ARTERY_LOG_LEVEL": "WARNING",
        "COMMERCE_PARTNERS": partners_url,
        "COMMERCE_APPROVAL_WITHIN": approval_within,
    }


def cli(demo_env: dict[str, str], *args: str) -> str:
    """Run ``artery ARGS`` as a person would, in the example's directory."""
    done = subprocess.run(
        [ARTERY, *args], cwd=HERE, env=demo_env, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"artery {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def create_key(demo_env: dict[str, str], name: str, *scopes: str) -> str:
    import json

    flags = [part for scope in scopes for part in ("--scope", scope)]
    return str(json.loads(cli(demo_env, "keys", "create", name, *flags, "--json"))["key"])


@contextlib.asynccontextmanager
async def processes(args: argparse.Namespace) -> AsyncIterator[Demo]:
    """The partners and ``artery run``, stopped (SIGTERM) when the demo ends."""
    workdir = Path(tempfile.mkdtemp(prefix="artery-commerce-"))
    artery_port, partners_port = free_port(), free_port()
    partners_url = f"http://127.0.0.1:{partners_port}"
    env = settings(workdir, partners_url, args.approval_within)
    key = create_key(env, "demo", "admin:read", "admin:write", "metrics:read", "orders:read")
    demo = Demo(workdir, env, f"http://127.0.0.1:{artery_port}", partners_url, key)
    with open(workdir / "partners.log", "wb") as partners_log, \
            open(workdir / "artery.log", "wb") as artery_log:  # fmt: skip
        partners = subprocess.Popen(
            [sys.executable, str(HERE / "partners.py"), "--port", str(partners_port),
             "--artery", demo.artery_url, "--shop-secret", env["ARTERY_SECRET_SHOP_HOOK"],
             "--crm-secret", env["ARTERY_SECRET_CRM_HOOK"], "--seed", str(args.seed)],
            env=env, stdout=subprocess.PIPE, stderr=partners_log,
        )  # fmt: skip
        demo.artery = subprocess.Popen(
            [ARTERY, "run", "app:app", "--port", str(artery_port)],
            cwd=HERE, env=env, stdout=artery_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await ready(partners, demo)
            yield demo
        finally:
            stop(demo.artery, partners)


def stop(*running: subprocess.Popen[bytes]) -> None:
    """SIGTERM each process: Artery finishes what is in flight and flushes its records."""
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)


async def ready(partners: subprocess.Popen[bytes], demo: Demo) -> None:
    assert partners.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(partners.stdout.readline), timeout=30)
    if b"partners ready" not in line:
        raise RuntimeError(f"the partners did not start: {line!r}; see {demo.workdir}")
    async with httpx.AsyncClient(base_url=demo.artery_url, timeout=2) as probe:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await probe.get("/readyz")).status_code == 200:
                    return
            assert demo.artery is not None
            if demo.artery.poll() is not None:
                raise RuntimeError(f"artery run exited; see {demo.workdir / 'artery.log'}")
            await asyncio.sleep(0.1)
    raise RuntimeError("artery run did not become ready within 30 s")


async def drive(demo: Demo, args: argparse.Namespace) -> None:
    """Send the orders and play the people: watch, approve, call the strangled export."""
    async with httpx.AsyncClient(base_url=demo.partners_url, timeout=10) as partners, \
            demo.admin() as admin:  # fmt: skip
        plan = {
            "orders": args.orders,
            "rate": args.rate,
            "silence_after": args.orders // 2,
            "silence_for": args.silence,
        }
        (await partners.post("/_control/shop/start", json=plan)).raise_for_status()
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
        with Progress(*columns, console=out, transient=False) as progress:
            task = progress.add_task("orders sent by the shop", total=args.orders)
            erp_down = False
            while True:
                shop = (await partners.get("/_control/shop")).json()
                progress.update(task, completed=min(shop["sent"], args.orders))
                if not erp_down and shop["sent"] >= args.orders // 3:
                    await partners.post("/_control/erp/down", json={"seconds": args.erp_down})
                    erp_down = True
                await watch(demo, admin)
                if shop["done"]:
                    break
                await asyncio.sleep(0.25)
        with out.status("settling: retries, approvals and time-outs") as status:
            await settle(demo, admin, status)


async def watch(demo: Demo, admin: httpx.AsyncClient) -> None:
    """What people do meanwhile: notice a silent source, approve every other large order
    (``artery workflows signal``), fetch the order export through the gateway."""
    sources = (await admin.get("/admin/sources")).json()["sources"]
    if demo.silent_at is None and any(s["silent"] for s in sources):
        demo.silent_at = time.monotonic() - demo.started
    waiting = (await admin.get("/admin/workflows/runs", params={"status": "waiting"})).json()
    for run in waiting:
        run_id = run["run_id"]
        if run_id in demo.asked:
            continue
        demo.asked.add(run_id)
        if len(demo.asked) % 2:  # every other one; the rest time out
            await asyncio.to_thread(
                cli, demo.env, "workflows", "signal", run_id, "approval", "--data", '"approve"'
            )
            demo.approved.append(run_id)
    (await admin.get("/orders/export")).raise_for_status()
    demo.exports += 1


async def settle(demo: Demo, admin: httpx.AsyncClient, status: Any) -> None:
    """Until nothing is left to do: no lag or retry pending, no run still live."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await watch(demo, admin)
        consumers = (await admin.get("/admin/consumers")).json()
        behind = sum(c["lag"] + c["pending_retries"] for c in consumers)
        live = 0
        for state in ("pending", "running", "sleeping", "waiting"):
            found = await admin.get("/admin/workflows/runs", params={"status": state})
            live += len(found.json())
        status.update(f"settling: {behind} deliveries and {live} runs still in flight")
        if behind == 0 and live == 0:
            await asyncio.sleep(2)  # the records and the CRM's last deliveries land
            return
        await asyncio.sleep(0.5)
    out.print("[red]did not settle within 120 s[/red]")


def peak_memory(pid: int) -> str:
    """The process's peak resident set (VmHWM), while it still runs."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return f"{int(line.split()[1]) / 1024:.0f} MiB"
    return "unknown"


async def main(args: argparse.Namespace) -> int:
    out.rule("Artery commerce demo")
    async with processes(args) as demo:
        out.print(f"partners on {demo.partners_url}, artery run on {demo.artery_url},"
                  f" store {demo.env['ARTERY_STORE']}")  # fmt: skip
        await drive(demo, args)
        assert demo.artery is not None
        memory = peak_memory(demo.artery.pid)
        async with httpx.AsyncClient(base_url=demo.partners_url, timeout=10) as partners, \
                demo.admin() as admin:  # fmt: skip
            books: Books = await gather(partners, admin, demo.env["ARTERY_STORE"])
        took = time.monotonic() - demo.started
        books.print(out, demo.silent_at, demo.approved, demo.exports, memory, took)
        out.rule("artery status")
        out.print(cli(demo.env, "status", "app:app"), markup=False)
        balanced = books.check(out)
        if args.keep_running:
            await keep_running(demo)
        return 0 if balanced else 1


async def keep_running(demo: Demo) -> None:
    scopes = ("console:read", "console:write", "console:destroy", "console:reveal")
    key = create_key(demo.env, "you", *scopes)
    out.print(f"\nthe console: {demo.artery_url}/console  (sign in with {key})")
    out.print("everything stays up until Ctrl-C")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders the shop sends")
    parser.add_argument("--rate", type=float, default=12.0, help="orders per second")
    parser.add_argument("--silence", type=float, default=8.0, help="seconds the shop is silent")
    parser.add_argument("--erp-down", type=float, default=4.0, help="seconds the ERP is down")
    parser.add_argument("--approval-within", default="15s", help="a large order's approval time")
    parser.add_argument("--seed", type=int, default=7, help="the partners' misbehaviour")
    parser.add_argument("--keep-running", action="store_true", help="stay up for the console")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
