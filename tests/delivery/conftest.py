"""These tests run on every log backend: SQLite, PostgreSQL, and PostgreSQL with the
events in NATS JetStream (``ARTERY_LOG`` is set for the test, so its apps and the worker
processes it starts use JetStream)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import backend_store_url


@pytest.fixture(params=["sqlite", "postgres", "jetstream"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    yield from backend_store_url(str(request.param), tmp_path, monkeypatch)
