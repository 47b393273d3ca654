"""Rate limits per client and route: the exact RateLimit fields, 429 with Retry-After once
the quota is spent, refill over time, and one limit shared by every process on a store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from edge_helpers import runtime_on

from artery.delivery.rate_limit import Limit, RateLimiter
from artery.errors import TooManyRequests
from artery.gateway.policy import Quota
from artery.gateway.throttle import StoreThrottle, limit_name
from artery.runtime import Runtime
from support import postgres_schema_url

T0 = 1_800_000_000.0
ROUTE = "POST /v1/orders"


class Clock:
    """Wall-clock seconds the test moves by hand (the limit's state is wall-clock time)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.fixture
async def runtime(store_url: str) -> AsyncIterator[Runtime]:
    async with runtime_on(store_url) as opened:
        yield opened


async def test_each_request_reports_what_remains_and_when_the_quota_is_whole(
    runtime: Runtime,
) -> None:
    clock = Clock()
    throttle = StoreThrottle(runtime.store, clock=clock)
    quota = Quota(3, 60)  # one request every 20 s, three at once
    seen = [await throttle.take("key:ak_a", ROUTE, quota) for _ in range(3)]
    assert {h["RateLimit-Policy"] for h in seen} == {'"default";q=3;w=60'}
    assert [h["RateLimit"] for h in seen] == [
        '"default";r=2;t=20',
        '"default";r=1;t=40',
        '"default";r=0;t=60',
    ]
    clock.now += 5
    assert (await throttle.take("key:ak_b", ROUTE, quota))["RateLimit"] == '"default";r=2;t=20'


async def test_the_request_over_the_quota_is_429_with_retry_after(runtime: Runtime) -> None:
    clock = Clock()
    throttle = StoreThrottle(runtime.store, clock=clock)
    quota = Quota(2, 10, name="orders")
    for _ in range(2):
        await throttle.take("key:ak_a", ROUTE, quota)
    clock.now += 1.5
    with pytest.raises(TooManyRequests) as refused:
        await throttle.take("key:ak_a", ROUTE, quota)
    assert refused.value.http_status == 429
    assert dict(refused.value.headers) == {
        "RateLimit-Policy": '"orders";q=2;w=10',
        "RateLimit": '"orders";r=0;t=9',  # 10 s of debt, 1.5 s paid: whole in 8.5 -> 9
        "Retry-After": "4",  # the next cell frees at 5 s: 3.5 s from now, rounded up
    }
    assert "ak_a" not in refused.value.message
    clock.now += 3.5
    assert (await throttle.take("key:ak_a", ROUTE, quota))["RateLimit"] == '"orders";r=0;t=10'


async def test_retry_after_is_at_least_one_second(runtime: Runtime) -> None:
    clock = Clock()
    throttle = StoreThrottle(runtime.store, clock=clock)
    quota = Quota(100, 1)  # one every 10 ms
    for _ in range(100):
        await throttle.take("key:ak_a", ROUTE, quota)
    with pytest.raises(TooManyRequests) as refused:
        await throttle.take("key:ak_a", ROUTE, quota)
    assert refused.value.headers["Retry-After"] == "1"


async def test_a_refusal_consumes_nothing(runtime: Runtime) -> None:
    clock = Clock()
    throttle = StoreThrottle(runtime.store, clock=clock)
    quota = Quota(1, 10)
    await throttle.take("key:ak_a", ROUTE, quota)
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            await throttle.take("key:ak_a", ROUTE, quota)
    clock.now += 10
    assert (await throttle.take("key:ak_a", ROUTE, quota))["RateLimit"] == '"default";r=0;t=10'


async def test_clients_and_routes_are_limited_apart(runtime: Runtime) -> None:
    throttle = StoreThrottle(runtime.store, clock=Clock())
    quota = Quota(1, 60)
    await throttle.take("key:ak_a", ROUTE, quota)
    await throttle.take("key:ak_b", ROUTE, quota)
    await throttle.take("key:ak_a", "GET /v1/orders", quota)
    with pytest.raises(TooManyRequests):
        await throttle.take("key:ak_a", ROUTE, quota)


def test_limit_names_are_valid_stable_and_say_nothing_of_the_client() -> None:
    name = limit_name("client:erp sync/1", "POST /v1/orders/{id}")
    assert Limit(name, 1.0, 1).name == name
    assert name == limit_name("client:erp sync/1", "POST /v1/orders/{id}")
    assert name != limit_name("client:erp sync/2", "POST /v1/orders/{id}")
    assert "erp" not in name and "orders" not in name


async def test_delivery_rate_limits_still_wait_and_grant(runtime: Runtime) -> None:
    clock = Clock()
    limiter = RateLimiter(runtime.store, clock=clock)
    limit = Limit("erp", 2.0, 1)
    assert await limiter.try_acquire(limit) == 0.0
    assert await limiter.try_acquire(limit) == pytest.approx(0.5)
    grant = await limiter.take(limit)
    assert not grant.granted and grant.wait_us == 500_000 and grant.remaining == 0


async def test_two_gateways_on_one_postgresql_store_share_the_limit(pg_url: str) -> None:
    quota = Quota(10, 3600)
    async with runtime_on(pg_url) as first, runtime_on(pg_url) as second:
        throttles = [StoreThrottle(first.store), StoreThrottle(second.store)]

        async def take(n: int) -> bool:
            try:
                await throttles[n % 2].take("key:ak_shared", ROUTE, quota)
            except TooManyRequests:
                return False
            return True

        granted = await asyncio.gather(*(take(n) for n in range(30)))
    assert sum(granted) == 10


# -- leases: cells taken from the store a few at a time ---------------------------------------


async def granted_of(throttle: StoreThrottle, quota: Quota, takes: int) -> int:
    granted = 0
    for _ in range(takes):
        try:
            await throttle.take("key:ak_busy", ROUTE, quota)
        except TooManyRequests:
            continue
        granted += 1
    return granted


async def test_a_busy_client_is_served_from_leases_and_never_beyond_its_quota(
    runtime: Runtime,
) -> None:
    throttle = StoreThrottle(runtime.store, clock=Clock())
    quota = Quota(1000, 1)  # leases grow to 50 cells
    writes = runtime.store.writes
    assert await granted_of(throttle, quota, 1200) == 1000
    assert runtime.store.writes - writes < 60  # not one write per request


async def test_a_client_that_does_not_hurry_is_counted_cell_by_cell(runtime: Runtime) -> None:
    clock = Clock()
    throttle = StoreThrottle(runtime.store, clock=clock)
    quota = Quota(1000, 1)
    writes = runtime.store.writes
    for _ in range(5):  # each lease lapses before its next call: no cell is held back
        assert (await throttle.take("key:ak_slow", ROUTE, quota))["RateLimit"] == (
            '"default";r=999;t=1'
        )
        clock.now += 2
    assert runtime.store.writes - writes == 5


async def test_small_quotas_are_never_leased(runtime: Runtime) -> None:
    throttle = StoreThrottle(runtime.store, clock=Clock())
    writes = runtime.store.writes
    assert await granted_of(throttle, Quota(30, 1), 40) == 30
    assert runtime.store.writes - writes == 30 + 1  # one per grant; refusals are remembered


async def test_leasing_gateways_on_one_postgresql_store_share_the_quota(pg_url: str) -> None:
    quota = Quota(2000, 1)  # leases grow to 100 cells
    clock = Clock()
    async with runtime_on(pg_url) as first, runtime_on(pg_url) as second:
        throttles = [
            StoreThrottle(first.store, clock=clock),
            StoreThrottle(second.store, clock=clock),
        ]
        granted = await asyncio.gather(*(granted_of(t, quota, 1500) for t in throttles))
    assert sum(granted) == 2000
