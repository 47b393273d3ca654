"""``/healthz`` and ``/readyz`` over real HTTP: up, ready, and not ready (a failing loop,
migrations behind, a store that does not answer) as a 503 problem naming what fails but
never an error's message."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from edge_helpers import PROBLEM, runtime_on, serving

from artery.errors import StoreUnavailable
from artery.gateway import health
from artery.runtime import Runtime
from artery.store.protocol import Tx
from support import POSTGRES, service_missing

SECRET = "Failing row contains (alice@example.com)"


@pytest.fixture
async def runtime(store_url: str) -> AsyncIterator[Runtime]:
    async with runtime_on(store_url) as opened:
        yield opened


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(runtime, health.routes(runtime)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        yield client


def not_ready(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == "https://artery.dev/problems/artery.not-ready"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == "/readyz"
    failing: list[dict[str, object]] = body["failing"]
    return failing


async def test_healthz_says_the_process_is_up(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_a_migrated_store_and_healthy_loops(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready"}


async def test_readyz_is_503_while_a_loop_fails_and_200_once_it_recovers(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    runtime.health.failed("workflow-claims", RuntimeError(SECRET))
    runtime.health.failed("workflow-claims", RuntimeError(SECRET))
    runtime.health.failed("retention", StoreUnavailable("store down", fix="start it"))
    response = await http.get("/readyz")
    assert not_ready(response) == [
        {"check": "loop", "loop": "workflow-claims", "error": "RuntimeError", "failures": 2},
        {"check": "loop", "loop": "retention", "error": "artery.store-unavailable", "failures": 1},
    ]
    assert "alice" not in response.text and "store down" not in response.text
    runtime.health.recovered("workflow-claims")
    runtime.health.recovered("retention")
    assert (await http.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_migrations_are_behind(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    def forget_latest(tx: Tx) -> None:
        tx.execute(
            "DELETE FROM artery_migrations WHERE package = 'gateway' AND version ="
            " (SELECT MAX(version) FROM artery_migrations WHERE package = 'gateway')"
        )

    await runtime.store.write(forget_latest)
    [lag] = not_ready(await http.get("/readyz"))
    assert lag["check"] == "migrations"
    assert isinstance(lag["behind"], list) and lag["behind"][0].startswith("gateway v")


async def test_readyz_is_503_when_the_store_is_closed(sqlite_url: str) -> None:
    async with (
        runtime_on(sqlite_url) as runtime,
        serving(runtime, health.routes(runtime)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        await runtime.store.close()
        assert not_ready(await http.get("/readyz")) == [
            {"check": "store", "error": "artery.store-unavailable"}
        ]
        assert (await http.get("/healthz")).status_code == 200


@pytest.fixture
def own_database() -> Iterator[tuple[str, str]]:
    """A PostgreSQL database of its own, so the test can refuse connections to it."""
    name = f"artery_ready_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        service_missing("PostgreSQL", str(exc).strip().splitlines()[0])
    admin.execute(f"CREATE DATABASE {name}")
    yield f"{POSTGRES.rsplit('/', 1)[0]}/{name}", name
    admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.mark.fault
async def test_readyz_is_503_while_postgresql_is_unreachable(
    own_database: tuple[str, str],
) -> None:
    url, name = own_database
    async with (
        runtime_on(url) as runtime,
        serving(runtime, health.routes(runtime)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            [store] = not_ready(await http.get("/readyz"))
            assert store["check"] == "store"
            assert (await http.get("/healthz")).status_code == 200
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        for _ in range(50):
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("/readyz did not recover with the store")
