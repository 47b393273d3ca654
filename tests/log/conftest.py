"""The log's tests run on every backend: events in SQLite, in PostgreSQL, and in NATS
JetStream (topics, positions and leases then in PostgreSQL). ``store_url`` is overridden
here so each test runs once per backend; a JetStream test gets streams of its own."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from artery.log import StoreLog
from artery.store import SqlStore
from support import backend_store_url

BACKENDS = ["sqlite", "postgres", "jetstream"]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from backend_store_url(backend_name, tmp_path, monkeypatch)


@pytest.fixture
def log_url(store_url: str) -> str:
    """``Settings.log`` of this test's backend ("" = the store's own log)."""
    return os.environ.get("ARTERY_LOG", "")


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
