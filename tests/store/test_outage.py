"""Waiting out a store outage: the work is retried until the store is back, and the log
says so once per outage rather than at every retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from artery.errors import StoreUnavailable
from artery.store import outage


async def test_an_outage_is_ridden_out_and_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outage, "backoff", lambda: 0.001)
    calls = 0

    async def flaky(op: Callable[[Any], int]) -> int:
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise StoreUnavailable("store down", fix="start it")
        return op(None)

    with caplog.at_level(logging.WARNING, logger="artery.store"):
        assert await outage.riding_out(flaky, lambda tx: 7) == 7
    assert calls == 5
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "store unavailable, waiting for it: store down",
        "store reachable again after 4 retries",
    ]


async def test_giving_up_raises_the_outage() -> None:
    async def down(op: Callable[[Any], int]) -> int:
        raise StoreUnavailable("store down", fix="start it")

    with pytest.raises(StoreUnavailable):
        await outage.riding_out(down, lambda tx: 1, giving_up=lambda: True)
