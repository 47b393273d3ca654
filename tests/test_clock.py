"""One clock: the system's for production, a settable one for tests."""

from __future__ import annotations

import time

import pytest

from artery.clock import Clock, ManualClock, SystemClock, now_us


def test_system_clock_reads_the_machine_clocks() -> None:
    clock: Clock = SystemClock()
    before = time.time()
    wall, micros, mono = clock.now(), clock.now_us(), clock.monotonic()
    after = time.time()
    assert before <= wall <= after
    assert int(before * 1_000_000) <= micros <= int(after * 1_000_000) + 1
    assert abs(mono - time.monotonic()) < 1.0
    assert clock.monotonic() >= mono


def test_module_now_us_is_wall_time_in_microseconds() -> None:
    before = int(time.time() * 1_000_000)
    assert before <= now_us() <= int(time.time() * 1_000_000)


def test_manual_clock_stands_still_until_advanced() -> None:
    clock: Clock = ManualClock(1_000.5, monotonic=7.0)
    assert (clock.now(), clock.now_us(), clock.monotonic()) == (1_000.5, 1_000_500_000, 7.0)
    time.sleep(0.01)
    assert (clock.now(), clock.monotonic()) == (1_000.5, 7.0)


def test_manual_clock_advance_moves_wall_and_monotonic_time_together() -> None:
    clock = ManualClock(100.0)
    clock.advance(2.25)
    assert clock.now() == 102.25
    assert clock.now_us() == 102_250_000
    assert clock.monotonic() == 2.25
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_manual_clock_set_jumps_wall_time_only() -> None:
    clock = ManualClock(100.0, monotonic=5.0)
    clock.set(50.0)
    assert (clock.now(), clock.monotonic()) == (50.0, 5.0)
