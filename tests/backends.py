"""The ``store_url`` of suites that run on every log backend (tests/log, tests/delivery,
tests/workflows import it into their conftest): SQLite, PostgreSQL, and PostgreSQL with
the events in NATS JetStream (``ARTERY_LOG`` is set for the test, so its apps and the
worker processes it starts use JetStream)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import backend_store_url

BACKENDS = ["sqlite", "postgres", "jetstream"]


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from backend_store_url(backend_name, tmp_path, monkeypatch)
