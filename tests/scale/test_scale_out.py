"""Several processes on PostgreSQL + NATS JetStream, as a team deploys them: two
``artery gateway`` and two ``artery worker`` processes of the real CLI. Orders come in
through both gateways; one worker is SIGKILLed half-way; the other takes over its
partitions once their leases run out, and every order's effect lands exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import eventually, jetstream_log, postgres_schema_url

HERE = Path(__file__).parent
ARTERY = str(Path(sys.executable).parent / "artery")
ORDERS = 100


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for log in jetstream_log(monkeypatch):
        for store in postgres_schema_url():
            partner = tmp_path / "partner.db"
            with sqlite3.connect(partner) as conn:
                conn.execute("CREATE TABLE calls (key TEXT)")
                conn.execute("CREATE TABLE effects (key TEXT PRIMARY KEY)")
            yield {**os.environ, "ARTERY_STORE": store, "ARTERY_LOG": log,
                   "SCALE_PARTNER": str(partner), "ARTERY_LOG_LEVEL": "WARNING"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([ARTERY, *args, "scale_out_app:app"], cwd=HERE, env=env)


def effects(env: dict[str, str]) -> tuple[int, int]:
    with sqlite3.connect(env["SCALE_PARTNER"], timeout=30) as conn:
        calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        done = conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0]
    return int(calls), int(done)


async def test_gateways_and_workers_share_the_work_and_survive_a_killed_worker(
    deployment: dict[str, str],
) -> None:
    env = deployment
    made = subprocess.run(
        [ARTERY, "keys", "create", "shop", "--scope", "orders:write", "--json"],
        cwd=HERE, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    ports = [free_port(), free_port()]
    gateways = [start(env, "gateway", "--port", str(port)) for port in ports]
    workers = [start(env, "worker"), start(env, "worker")]
    try:
        for port in ports:
            await eventually(lambda p=port: up(p), f"the gateway on {port}", timeout=30)
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
            for n in range(ORDERS):
                port = ports[n % 2]
                answer = await client.post(f"http://127.0.0.1:{port}/orders", json={"n": n})
                assert answer.status_code == 202, answer.text
                if n == ORDERS // 2:
                    await eventually(lambda: effects(env)[1] > 0, "the workers at work", timeout=30)
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait()
        await eventually(lambda: effects(env)[1] == ORDERS, "every order's effect", timeout=60)
        calls, done = effects(env)
        assert done == ORDERS and calls >= ORDERS  # at least once; each effect once
    finally:
        for process in [*gateways, *workers]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*gateways, *workers]:
            process.wait(timeout=30)


def up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
