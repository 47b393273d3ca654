"""The front door as an operator runs it: ``artery run`` on SQLite, and ``artery gateway``
beside ``artery worker`` on PostgreSQL; the key made with ``artery keys create``; an order
posted to an ingest route is published by the gateway and handled by the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_delivery_cli import created_key, write_module

SHOP = """
from pathlib import Path

from artery import App, Integration, WorkerOptions

HERE = Path(__file__).parent
app = App("shop", owner="shop-team")
app.worker_options = WorkerOptions(lease_ttl=2.0, poll_interval=0.02, commit_interval=0.02)
orders = app.contract(
    "orders",
    schema={
        "type": "object",
        "properties": {"id": {"type": "string"}, "total": {"type": "number", "minimum": 0}},
        "required": ["id", "total"],
    },
    partitions=2,
)
app.ingest("/v1/orders", orders, scopes=["orders:write"])


@app.consumer(orders, group="erp")
async def post_to_erp(event, ctx):
    with open(HERE / "handled.txt", "a") as f:
        f.write(event.data["id"] + "\\n")
"""


def artery(directory: Path, store: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARTERY_STORE"}
    env.update(ARTERY_STORE=store, PYTHONUNBUFFERED="1", COLUMNS="240")
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("artery")), *args],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    write_module(tmp_path, "shop", SHOP)
    return tmp_path


def base_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    banner = process.stdout.readline()
    assert "admin API at " in banner, banner + (process.stderr.read() if process.stderr else "")
    return banner.split("admin API at ")[1].split()[0].removesuffix("/admin")


@pytest.fixture
def stopping() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.communicate(timeout=30)
        finally:
            process.kill()
        assert process.returncode == 0


def handled(directory: Path, expected: list[str]) -> None:
    deadline = time.monotonic() + 20
    path = directory / "handled.txt"
    while time.monotonic() < deadline:
        if path.exists() and sorted(path.read_text().split()) == sorted(expected):
            return
        time.sleep(0.05)
    raise AssertionError(f"handled {path.read_text() if path.exists() else 'nothing'}")


def exercise(url: str, store: str, directory: Path) -> None:
    writer = created_key(store, "orders:write")
    reader = created_key(store, "admin:read")
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.post("/v1/orders", json={"id": "A-1", "total": 5}).status_code == 401
        assert (
            http.post("/v1/orders", json={"id": "A-1", "total": 5}, headers=reader).status_code
            == 403
        )
        bad = http.post("/v1/orders", json={"id": "A-2", "total": -1}, headers=writer)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(
            "application/problem+json"
        )
        accepted = http.post("/v1/orders", json={"id": "A-3", "total": 12.5}, headers=writer)
        assert accepted.status_code == 202, accepted.text
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/admin/consumers", headers=reader).json()[0]["group"] == "erp"
    handled(directory, ["A-3"])


def test_artery_run_serves_the_front_door_on_sqlite(
    shop: Path, stopping: list[subprocess.Popen[str]]
) -> None:
    store = f"sqlite:///{shop}/shop.db"
    created_key(store, "admin:read")  # the store exists before the server starts
    stopping.append(run := artery(shop, store, "run", "shop:app", "--port", "0"))
    exercise(base_url(run), store, shop)


def test_a_gateway_and_a_worker_share_postgresql(
    shop: Path, pg_url: str, stopping: list[subprocess.Popen[str]]
) -> None:
    created_key(pg_url, "admin:read")
    stopping.append(gateway := artery(shop, pg_url, "gateway", "shop:app", "--port", "0"))
    stopping.append(artery(shop, pg_url, "worker", "shop:app"))
    exercise(base_url(gateway), pg_url, shop)
