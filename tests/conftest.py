"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own (dropped afterwards). Without a reachable
PostgreSQL they skip, naming the service, unless ARTERY_REQUIRE_SERVICES=1 (CI), where
they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from artery.store import SqlStore, open_store

POSTGRES = os.environ.get("ARTERY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE = os.environ.get("ARTERY_REQUIRE_SERVICES") == "1"


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
