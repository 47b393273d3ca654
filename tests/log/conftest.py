"""The log's tests run on every backend: events in SQLite, in PostgreSQL, and in NATS
JetStream (topics, positions and leases then in PostgreSQL). ``store_url`` is overridden
here so each test runs once per backend; a JetStream test gets streams of its own (a
random prefix), deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from artery.log import StoreLog
from artery.store import SqlStore
from support import nats_server, postgres_schema_url

BACKENDS = ["sqlite", "postgres", "jetstream"]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend_name: str, tmp_path: Path) -> Iterator[str]:
    if backend_name == "sqlite":
        yield f"sqlite:///{tmp_path}/artery.db"
    else:
        yield from postgres_schema_url()


@pytest.fixture
def log_url(backend_name: str) -> Iterator[str]:
    """``Settings.log`` for an App on this backend ("" = the store's own log)."""
    if backend_name != "jetstream":
        yield ""
        return
    prefix = "T" + uuid.uuid4().hex[:10]
    yield f"{nats_server()}?prefix={prefix}"
    delete_streams(prefix)


@pytest.fixture
async def backend(store: SqlStore, log_url: str) -> AsyncIterator[StoreLog]:
    """The ``Log`` backend of this test, over ``store``."""
    if not log_url:
        yield StoreLog(store)
        return
    from artery.log.jetstream import JetStreamLog, connect

    connection, prefix = await connect(log_url)
    found = JetStreamLog(store, connection, prefix)
    yield found
    await found.close()


def delete_streams(prefix: str) -> None:
    import asyncio

    import nats

    async def delete() -> None:
        connection = await nats.connect(nats_server())
        js = connection.jetstream()
        for name in await js.streams_info():
            if name.config.name and name.config.name.startswith(prefix + "_"):
                await js.delete_stream(name.config.name)
        await connection.drain()

    asyncio.run(delete())
