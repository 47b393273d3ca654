"""The log's tests run on every backend: events in SQLite, in PostgreSQL, and in NATS
JetStream (topics, positions and leases then in PostgreSQL): ``store_url`` comes from
``tests/backends.py``, so each test runs once per backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from artery.log import StoreLog
from artery.store import SqlStore
from backends import backend_name, store_url  # noqa: F401  (fixtures)


@pytest.fixture
def log_url(request: pytest.FixtureRequest) -> str:
    """``Settings.log`` of this test's backend ("" = the store's own log), set by its
    ``store_url``."""
    request.getfixturevalue("store_url")
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
