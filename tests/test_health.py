"""Background loops report failures instead of dying: the health registry and loop guard."""

from __future__ import annotations

import logging

import pytest

from artery.errors import StoreUnavailable
from artery.health import Health, log_failure


async def test_a_failing_loop_makes_the_process_unhealthy_until_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = Health()
    guard = health.guard("claims", logging.getLogger("test"), base=0.001, cap=0.001)
    assert health.healthy
    with caplog.at_level(logging.WARNING, logger="test"):
        for _ in range(3):
            await guard.failed(StoreUnavailable("store down", fix="start it"))
    assert not health.healthy
    [failure] = health.failures()
    assert (failure.loop, failure.count) == ("claims", 3)
    assert failure.error == "artery.store-unavailable: store down"
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # once a streak
    guard.ok()
    assert health.healthy
    assert "recovered after 3 failed attempts" in caplog.text


async def test_a_foreign_error_is_described_by_its_type_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = Health()
    guard = health.guard("schedules", logging.getLogger("test"), base=0.001, cap=0.001)
    try:
        raise ValueError("card 4111111111111111 rejected")
    except ValueError as exc:
        with caplog.at_level(logging.ERROR, logger="test"):
            await guard.failed(exc)
    assert health.failures()[0].error == "ValueError"
    assert "4111111111111111" not in caplog.text  # driver messages may quote row data
    assert "schedules failed; retrying with backoff until it works (ValueError)" in caplog.text
    assert "test_health.py" in caplog.text


def test_backoff_grows_and_stays_under_the_cap() -> None:
    guard = Health().guard("x", logging.getLogger("test"), base=1.0, cap=8.0)
    delays = []
    for streak in range(1, 8):
        guard._streak = streak
        delays.append(guard.delay())
    assert delays[0] <= 1.0
    assert all(d <= 8.0 for d in delays)
    assert max(delays[4:]) >= 4.0


def test_a_logged_failure_names_its_place_but_not_a_foreign_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise RuntimeError("Failing row contains (alice@example.com)")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="test"):
            log_failure(logging.getLogger("test"), "run r-1 failed inside the engine", exc)
    assert "run r-1 failed inside the engine (RuntimeError)" in caplog.text
    assert "test_health.py" in caplog.text and "alice@example.com" not in caplog.text
