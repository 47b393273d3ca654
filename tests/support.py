"""Helpers shared by tests in every folder (pytest puts tests/ on the path: conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str = "condition", *, timeout: float = 10.0
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


ADMIN_SCOPES = ("admin:read", "admin:write", "admin:destroy")


async def api_key(app: Any, *scopes: str, name: str = "tests") -> str:
    """A fresh API key on ``app``'s store granting ``scopes`` (default: every admin scope)."""
    from artery.gateway.auth.keys import ApiKeys

    secret, _ = await ApiKeys(app.store).create(name, scopes or ADMIN_SCOPES)
    return secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def admin_client(app: Any, base_url: str, *scopes: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client for ``base_url`` that authenticates with a new key of ``scopes``."""
    key = await api_key(app, *scopes)
    options.setdefault("timeout", 10)
    return httpx.AsyncClient(base_url=base_url, headers=bearer(key), **options)


# -- services (conftest.py's fixtures use these; tests may too) --

POSTGRES = os.environ.get("ARTERY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE = os.environ.get("ARTERY_REQUIRE_SERVICES") == "1"


NATS = os.environ.get("ARTERY_TEST_NATS", "nats://127.0.0.1:4222")


def nats_server() -> str:
    """NATS with JetStream for the tests; skipped (failed under CI) when not reachable."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(NATS)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 2).close()
    except OSError as exc:
        service_missing("NATS", f"{NATS}: {exc}")
    return NATS


def jetstream_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A JetStream log URL with streams of its own (deleted afterwards), also set as
    ``ARTERY_LOG`` so apps made in the test (and worker processes it starts) use it."""
    prefix = "T" + uuid.uuid4().hex[:10]
    url = f"{nats_server()}?prefix={prefix}"
    monkeypatch.setenv("ARTERY_LOG", url)
    yield url
    delete_streams(prefix)


def delete_streams(prefix: str) -> None:
    import asyncio

    import nats

    async def delete() -> None:
        connection = await nats.connect(nats_server())
        js = connection.jetstream()
        for info in await js.streams_info():
            if info.config.name and info.config.name.startswith(prefix + "_"):
                await js.delete_stream(info.config.name)
        await connection.drain()

    asyncio.run(delete())


def backend_store_url(
    backend: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store URL of a test parametrized by log backend: SQLite, PostgreSQL, or
    PostgreSQL with the events in JetStream (``ARTERY_LOG`` set for the test)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/artery.db"
        return
    if backend == "jetstream":
        for _ in jetstream_log(monkeypatch):
            yield from postgres_schema_url()
        return
    yield from postgres_schema_url()


def service_missing(name: str, detail: str) -> None:
    message = f"{name} is not reachable ({detail}); start it or unset ARTERY_REQUIRE_SERVICES"
    if REQUIRE:
        pytest.fail(message)
    pytest.skip(message)


def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, as a URL whose search_path points at it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", f"{POSTGRES}: {str(exc).strip().splitlines()[0]}")
    sep = "&" if "?" in POSTGRES else "?"
    yield f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.asynccontextmanager
async def partner_at(folder: Any, answer: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[str]:
    """A partner that does not exist, simulated as a real HTTP server on 127.0.0.1:
    ``answer(request)`` serves ``POST /in``; yields that URL."""
    from starlette.routing import Route

    from artery.config import Settings
    from artery.gateway.server import HttpServer, Listen
    from artery.runtime import open_runtime

    async with open_runtime(Settings(store=f"sqlite:///{folder}/partner.db")) as runtime:
        server = HttpServer(Listen("127.0.0.1", 0), [Route("/in", answer, methods=["POST"])])
        await server.start(runtime)
        try:
            yield server.url + "/in"
        finally:
            await server.stop()
