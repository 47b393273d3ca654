"""nats-server restarted mid-run, with file storage: publishers get ``StoreUnavailable``
and publish again (same idempotency keys), workers ride it out, nothing acknowledged is
lost and nothing is stored twice; handlers see each event at least once and its effect
lands once. The server here is the test's own (a free port, its own store directory), so
the shared one other tests use is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from artery import App, DeliveryContext, Event, Retry, Settings, WorkerOptions
from artery.errors import StoreUnavailable
from support import eventually, postgres_schema_url, service_missing

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
COUNT = 200


class Server:
    """A nats-server with JetStream on a free port, stopped and started at will."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            service_missing("nats-server", "no binary; .ci/run installs and starts one")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.command = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(folder)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    found = Server(tmp_path / "jetstream")
    found.start()
    yield found
    found.stop()


@pytest.fixture
def pg() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.mark.parametrize(
    "outage",
    [1.5, 7.0],  # shorter than a request's timeout: publishers wait; longer: refused
)
async def test_a_restarted_server_loses_nothing_acknowledged_and_stores_nothing_twice(
    server: Server, pg: str, outage: float
) -> None:
    log = f"{server.url}?prefix=R{uuid.uuid4().hex[:8]}"
    app = App("restart", settings=Settings(store=pg, log=log))
    app.worker_options = WorkerOptions(lease_ttl=2.0, poll_interval=0.02, retry_poll=0.05)
    orders = app.contract("orders", schema=ORDER, partitions=2)
    effects: set[str] = set()
    calls = 0

    @app.consumer(orders, group="erp", retry=Retry(attempts=50, base="50ms", cap="500ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        nonlocal calls
        calls += 1
        effects.add(event.idempotencykey or "")

    refused, longest = 0, 0.0
    async with app.running():
        for n in range(COUNT):
            if n == COUNT // 3:
                await asyncio.to_thread(server.stop)
                restarting = asyncio.create_task(asyncio.to_thread(restart_later, server, outage))
            while True:
                started = time.monotonic()
                try:
                    await app.publish(orders, {"n": n}, key=f"c{n % 7}", idempotency_key=f"o-{n}")
                    longest = max(longest, time.monotonic() - started)
                    break
                except StoreUnavailable:
                    refused += 1
                    await asyncio.sleep(0.2)
        await restarting
        wanted = {f"o-{n}" for n in range(COUNT)}
        await eventually(lambda: effects >= wanted, "every acknowledged order handled", timeout=60)
        heads = await app.log.heads("orders")
    if outage < 5.0:  # a request waits up to 5 s for the server to come back
        assert refused == 0 and longest > 1.0, "publishing waited the outage out"
    else:
        assert refused > 0, "publishing during a long outage is refused, not hung"
    assert sum(heads.values()) == COUNT, "each order stored once"
    assert effects == wanted and calls >= COUNT


def restart_later(server: Server, outage: float) -> None:
    time.sleep(outage)
    server.start()
