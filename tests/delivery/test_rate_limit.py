"""Named GCRA rate limits, kept in the store so every consumer and process shares them."""

from __future__ import annotations

import asyncio
import time

import pytest

from artery.delivery.rate_limit import Limit, RateLimiter
from artery.errors import ConfigError
from artery.store import SqlStore, open_store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def _acquire_for(limiter: RateLimiter, limit: Limit, seconds: float, workers: int) -> int:
    """How many cells ``workers`` concurrent callers get in ``seconds``."""
    granted = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal granted
        while True:
            wait = await limiter.try_acquire(limit)
            if time.monotonic() >= deadline:
                return
            if wait == 0:
                granted += 1
            else:
                await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return granted


async def test_a_burst_is_granted_at_once(store: SqlStore) -> None:
    limiter = RateLimiter(store)
    limit = Limit("erp", rate=5, burst=10)
    waits = await asyncio.gather(*(limiter.try_acquire(limit) for _ in range(10)))
    assert waits == [0.0] * 10
    next_wait = await limiter.try_acquire(limit)
    assert 0 < next_wait <= 0.2 + 0.01


async def test_a_refusal_consumes_nothing(store: SqlStore) -> None:
    clock = FakeClock()
    limiter = RateLimiter(store, clock=clock)
    limit = Limit("crm", rate=10, burst=3)
    assert [await limiter.try_acquire(limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    refusals = [await limiter.try_acquire(limit) for _ in range(5)]
    assert refusals == [pytest.approx(0.1)] * 5
    clock.now += 0.1
    assert await limiter.try_acquire(limit) == 0.0
    assert await limiter.try_acquire(limit) == pytest.approx(0.1)


async def test_an_idle_limit_refills_only_up_to_its_burst(store: SqlStore) -> None:
    clock = FakeClock()
    limiter = RateLimiter(store, clock=clock)
    limit = Limit("crm", rate=10, burst=3)
    await limiter.try_acquire(limit)
    clock.now += 3600
    waits = [await limiter.try_acquire(limit) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0


async def test_limits_with_different_names_are_independent(store: SqlStore) -> None:
    limiter = RateLimiter(store, clock=FakeClock())
    assert await limiter.try_acquire(Limit("a", rate=1, burst=1)) == 0.0
    assert await limiter.try_acquire(Limit("b", rate=1, burst=1)) == 0.0
    assert await limiter.try_acquire(Limit("a", rate=1, burst=1)) > 0


async def test_long_run_rate_stays_within_rate_times_duration_plus_burst(store: SqlStore) -> None:
    limiter = RateLimiter(store)
    limit = Limit("erp", rate=20, burst=5)
    started = time.monotonic()
    granted = await _acquire_for(limiter, limit, seconds=1.5, workers=8)
    elapsed = time.monotonic() - started
    assert granted <= 20 * elapsed + 5 + 1
    assert granted >= 20 * 1.5 * 0.6, "the limiter should not starve callers"


async def test_acquire_waits_for_the_next_cell(store: SqlStore) -> None:
    limiter = RateLimiter(store)
    limit = Limit("erp", rate=20, burst=2)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire(limit) for _ in range(12)))
    elapsed = time.monotonic() - started
    # 2 at once, then 10 more at 20/s: at least 0.5 s (minus one interval of rounding).
    assert elapsed >= 0.45


async def test_waiters_sleep_instead_of_polling(store: SqlStore) -> None:
    limiter = RateLimiter(store)
    limit = Limit("erp", rate=20, burst=1)
    writes_before = store.writes
    await asyncio.gather(*(limiter.acquire(limit) for _ in range(20)))
    attempts = store.writes - writes_before
    # Each caller tries once on arrival, then waiters queue and poll one at a time: about
    # two attempts per cell. A thundering herd would need about 20 * 20 / 2 = 200.
    assert attempts <= 20 * 3


async def test_two_limiters_on_separate_connections_share_one_limit(
    store: SqlStore, store_url: str
) -> None:
    other_store = await open_store(store_url)
    try:
        limit = Limit("erp", rate=20, burst=4)
        first, second = RateLimiter(store), RateLimiter(other_store)
        started = time.monotonic()
        counts = await asyncio.gather(
            _acquire_for(first, limit, seconds=1.2, workers=4),
            _acquire_for(second, limit, seconds=1.2, workers=4),
        )
        elapsed = time.monotonic() - started
    finally:
        await other_store.close()
    assert sum(counts) <= 20 * elapsed + 4 + 1
    assert min(counts) > 0, "both limiters should get a share"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("erp:20/s", Limit("erp", 20.0, 20)),
        ("erp:20/s,burst=40", Limit("erp", 20.0, 40)),
        (" erp : 20/s , burst = 40 ", Limit("erp", 20.0, 40)),
        ("crm:1200/m", Limit("crm", 20.0, 20)),
        ("slow-partner:1/h", Limit("slow-partner", 1 / 3600, 1)),
        ("half.rate:0.5/s", Limit("half.rate", 0.5, 1)),
    ],
)
def test_parse_reads_name_rate_and_burst(text: str, expected: Limit) -> None:
    assert Limit.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["erp", "erp:20", "erp:0/s", ":20/s", "erp:20/s,burst=0", "erp:20/s,bust=4", "e r p:20/s"],
)
def test_parse_rejects_bad_text_with_a_fix(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Limit.parse(text)
    assert caught.value.fix


@pytest.mark.parametrize(
    ("rate", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (float("nan"), 1), (1.0, 0)]
)
def test_limit_rejects_bad_values(rate: float, burst: int) -> None:
    with pytest.raises(ConfigError):
        Limit("erp", rate, burst)
