"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own (dropped afterwards). Without a reachable
PostgreSQL they skip, naming the service, unless ARTERY_REQUIRE_SERVICES=1 (CI), where
they fail instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from artery.store import SqlStore, open_store
from support import postgres_schema_url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/artery.db"
    else:
        yield from postgres_schema_url()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """PostgreSQL alone, for what only matters there (processes sharing one store)."""
    yield from postgres_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/artery.db"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    opened = await open_store(store_url)
    yield opened
    await opened.close()
