"""Circuit breakers: open on a failing partner, fail fast, probe, recover; states persisted."""

from __future__ import annotations

import asyncio
import time

import pytest

from artery.delivery.breaker import BreakerPolicy, Breakers, BreakerState, CircuitBreaker
from artery.errors import ConfigError
from artery.store import SqlStore

POLICY = BreakerPolicy(failure_ratio=0.5, min_calls=10, window=30, open_for=15)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(policy: BreakerPolicy = POLICY) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("erp", policy, clock=clock), clock


def _record(breaker: CircuitBreaker, successes: int, failures: int) -> None:
    for _ in range(successes):
        breaker.record_success()
    for _ in range(failures):
        breaker.record_failure()


def _open(breaker: CircuitBreaker) -> None:
    _record(breaker, 0, breaker.policy.min_calls)
    assert breaker.state is BreakerState.OPEN


def test_opens_once_failure_ratio_is_reached_with_enough_calls() -> None:
    breaker, _ = _breaker()
    _record(breaker, successes=5, failures=4)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()  # 5 of 10
    assert breaker.state is BreakerState.OPEN


def test_does_not_open_below_min_calls() -> None:
    breaker, _ = _breaker()
    _record(breaker, successes=0, failures=9)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_does_not_open_below_failure_ratio() -> None:
    breaker, _ = _breaker()
    _record(breaker, successes=60, failures=59)
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_older_than_the_window_no_longer_count() -> None:
    breaker, clock = _breaker()
    _record(breaker, successes=0, failures=9)
    clock.now += 31
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["calls"] == 1


def test_open_breaker_fails_fast() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 14.9
    assert [breaker.allow() for _ in range(3)] == [False, False, False]


def test_outcomes_reported_while_open_are_ignored() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 10
    breaker.record_failure()  # a call that started before the breaker opened
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_opens_after_open_for_and_allows_one_probe() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 15
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "only one probe at a time"


def test_half_open_allows_as_many_concurrent_probes_as_configured() -> None:
    breaker, clock = _breaker(BreakerPolicy(min_calls=1, open_for=1, half_open_probes=2))
    _open(breaker)
    clock.now += 1
    assert [breaker.allow() for _ in range(3)] == [True, True, False]


def test_successful_probe_closes_and_starts_a_fresh_window() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 15
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    snap = breaker.snapshot()
    assert (snap["calls"], snap["failures"], snap["opened_at"]) == (0, 0, None)
    _record(breaker, successes=0, failures=9)
    assert breaker.state is BreakerState.CLOSED, "old failures must not count again"


def test_failed_probe_reopens_for_open_for() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 15
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 14.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_probe_that_never_reports_frees_its_slot_after_open_for() -> None:
    breaker, clock = _breaker()
    _open(breaker)
    clock.now += 15
    assert breaker.allow()
    clock.now += 14
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_snapshot_describes_the_breaker() -> None:
    breaker, _ = _breaker()
    _record(breaker, successes=3, failures=2)
    assert breaker.snapshot() == {
        "name": "erp",
        "state": "closed",
        "failures": 2,
        "calls": 5,
        "opened_at": None,
    }
    _record(breaker, successes=0, failures=5)
    snap = breaker.snapshot()
    assert snap["state"] == "open" and snap["opened_at"] is not None
    assert abs(snap["opened_at"] - time.time()) < 60


async def test_wait_until_allowed_returns_at_once_while_closed() -> None:
    breaker = CircuitBreaker("erp", POLICY)
    await asyncio.wait_for(breaker.wait_until_allowed(), timeout=0.05)


async def test_wait_until_allowed_blocks_while_open_and_returns_once_half_open() -> None:
    breaker = CircuitBreaker("erp", BreakerPolicy(min_calls=1, open_for=0.2))
    breaker.record_failure()
    started = time.monotonic()
    waiter = asyncio.create_task(breaker.wait_until_allowed())
    await asyncio.sleep(0.1)
    assert not waiter.done(), "events wait while the breaker is open"
    await asyncio.wait_for(waiter, timeout=1.0)
    assert time.monotonic() - started >= 0.19
    assert breaker.state is BreakerState.HALF_OPEN


async def test_waiters_behind_a_probe_go_once_it_succeeds() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("erp", BreakerPolicy(min_calls=1, open_for=10), clock=clock)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()  # the probe; the others would wait up to 10 s for it
    waiters = [asyncio.create_task(breaker.wait_until_allowed()) for _ in range(3)]
    await asyncio.sleep(0.02)
    assert not any(w.done() for w in waiters)
    breaker.record_success()
    await asyncio.wait_for(asyncio.gather(*waiters), timeout=0.5)
    assert breaker.state is BreakerState.CLOSED


async def test_on_change_hears_every_transition() -> None:
    seen: list[tuple[str, BreakerState, int, int]] = []

    async def on_change(name: str, state: BreakerState, failures: int, calls: int) -> None:
        seen.append((name, state, failures, calls))

    clock = FakeClock()
    breaker = CircuitBreaker(
        "erp", BreakerPolicy(min_calls=2, open_for=5), clock=clock, on_change=on_change
    )
    _record(breaker, successes=1, failures=1)
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    await breaker.flush()
    assert seen == [
        ("erp", BreakerState.OPEN, 1, 2),
        ("erp", BreakerState.HALF_OPEN, 1, 2),
        ("erp", BreakerState.CLOSED, 0, 0),
    ]


async def test_a_failing_on_change_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def on_change(name: str, state: BreakerState, failures: int, calls: int) -> None:
        raise RuntimeError("store down")

    breaker = CircuitBreaker("erp", BreakerPolicy(min_calls=1), on_change=on_change)
    breaker.record_failure()
    await breaker.flush()
    assert breaker.state is BreakerState.OPEN
    assert any("could not report" in r.message for r in caplog.records)


async def test_state_changes_appear_in_breakers_states(store: SqlStore) -> None:
    breakers = Breakers(store, worker_id="worker-1")
    assert await breakers.states() == []
    erp = breakers.get("erp", BreakerPolicy(min_calls=2, open_for=0.05))
    breakers.get("crm").record_success()  # no transition, nothing written
    erp.record_failure()
    erp.record_failure()
    await breakers.flush()
    [opened] = await breakers.states()
    assert opened["name"] == "erp"
    assert (opened["state"], opened["failures"], opened["calls"]) == ("open", 2, 2)
    assert opened["reported_by"] == "worker-1"
    assert abs(opened["changed_at"] - time.time() * 1_000_000) < 60_000_000

    await asyncio.sleep(0.06)
    assert erp.allow()
    erp.record_success()
    await breakers.flush()
    [closed] = await breakers.states()
    assert closed["state"] == "closed"
    assert closed["changed_at"] > opened["changed_at"]


async def test_states_show_the_latest_change_from_any_worker(store: SqlStore) -> None:
    first, second = Breakers(store, "worker-1"), Breakers(store, "worker-2")
    first.get("erp", BreakerPolicy(min_calls=1)).record_failure()
    await first.flush()
    second.get("erp", BreakerPolicy(min_calls=1)).record_failure()
    await second.flush()
    [state] = await first.states()
    assert (state["state"], state["reported_by"]) == ("open", "worker-2")


async def test_breakers_without_a_store_report_from_memory() -> None:
    breakers = Breakers(None, "worker-1")
    breakers.get("erp", BreakerPolicy(min_calls=1)).record_failure()
    breakers.get("crm")
    await breakers.flush()
    states = await breakers.states()
    assert [(s["name"], s["state"]) for s in states] == [("crm", "closed"), ("erp", "open")]
    assert states[1]["changed_at"] > 0


def test_get_returns_one_breaker_per_name() -> None:
    breakers = Breakers(None, "worker-1")
    erp = breakers.get("erp", POLICY)
    assert breakers.get("erp") is erp
    assert breakers.get("erp", BreakerPolicy(min_calls=10, window="30s", open_for="15s")) is erp
    assert breakers.get("crm") is not erp


def test_get_rejects_a_second_different_policy_for_one_name() -> None:
    breakers = Breakers(None, "worker-1")
    breakers.get("erp", POLICY)
    with pytest.raises(ConfigError):
        breakers.get("erp", BreakerPolicy(min_calls=3))


def test_policy_accepts_durations_as_text() -> None:
    policy = BreakerPolicy(window="1m", open_for="500ms")
    assert (policy.window, policy.open_for) == (60.0, 0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_ratio": 0},
        {"failure_ratio": 1.5},
        {"min_calls": 0},
        {"half_open_probes": 0},
        {"window": 0},
        {"open_for": "soon"},
    ],
)
def test_bad_policy_raises_config_error_with_a_fix(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        BreakerPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.fix
