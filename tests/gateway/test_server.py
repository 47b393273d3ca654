"""Serving: a warning when bound beyond loopback, the fast protocol, and slow clients cut
off (a request head that dribbles in, a connection that sends nothing)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from edge_helpers import runtime_on, serving

from artery.gateway import health
from artery.gateway.server import HttpServer, Listen, is_loopback, protocols
from artery.gateway.slow_clients import HeadTimed
from artery.runtime import Runtime


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    async with runtime_on(sqlite_url) as opened:
        yield opened


def exposure_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "artery.http" and r.levelno == logging.WARNING
    ]


async def test_binding_beyond_loopback_warns_what_is_exposed(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="artery.http"):
        async with (
            serving(runtime, health.routes(runtime), host="0.0.0.0") as server,
            httpx.AsyncClient(timeout=10) as http,
        ):
            response = await http.get(f"http://127.0.0.1:{server.port}/healthz")
            assert response.status_code == 200
    [warning] = exposure_warnings(caplog)
    assert f"0.0.0.0:{server.port}" in warning
    for exposed in ("admin API", "routes", "token endpoint", "credential", "allowed_hosts"):
        assert exposed in warning


async def test_binding_to_loopback_does_not_warn(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="artery.http"):
        async with serving(runtime, health.routes(runtime)):
            pass
    assert exposure_warnings(caplog) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("gateway.internal", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_server_uses_uvloop_and_httptools_when_installed() -> None:
    loop, http = protocols(10.0)
    assert loop == "uvloop"
    assert isinstance(http, type) and issubclass(http, HeadTimed)


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    return await asyncio.wait_for(reader.read(), within)


async def test_a_request_head_that_dribbles_in_is_cut_off(runtime: Runtime) -> None:
    server = HttpServer(Listen("127.0.0.1", 0), health.routes(runtime), head_timeout=0.5)
    await server.start(runtime)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"X-Slow: 1\r\n")  # still no end of the head
        assert await read_until_closed(reader, 5) == b""
        assert 0.4 < time.monotonic() - started < 3
        writer.close()

        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await read_until_closed(idle_reader, 5) == b""  # connected, sent nothing
        idle_writer.close()

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200  # a prompt client is served
    finally:
        await server.stop()


async def test_a_prompt_client_keeps_its_connection_across_requests(runtime: Runtime) -> None:
    server = HttpServer(Listen("127.0.0.1", 0), health.routes(runtime), head_timeout=0.3)
    await server.start(runtime)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(3):
            await asyncio.sleep(0.2)  # idle between requests: the keep-alive timeout rules
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()
    finally:
        await server.stop()
