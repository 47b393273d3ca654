"""Every delivery attempt passes one middleware seam: gates before it, wrappers around the
call, observers after it and after a dead letter, in a fixed order."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from delivery_helpers import eventually, make_app

from artery import BreakerPolicy, DeliveryContext, Event, Limit, Permanent, Retry
from artery.delivery import Consumer
from artery.delivery.breaker import Breakers, BreakerState, CircuitBreaker
from artery.delivery.middleware import (
    Attempt,
    BreakerMiddleware,
    Middleware,
    RateLimitMiddleware,
    TimeoutMiddleware,
    policies,
    seam_for,
)
from artery.delivery.rate_limit import RateLimiter
from artery.store import open_store

T = TypeVar("T")
Seen = list[tuple[Any, ...]]


class Recorder(Middleware):
    """Writes down every hook it is called with, tagged with its own name."""

    def __init__(self, name: str, seen: Seen) -> None:
        self.name, self.seen = name, seen

    async def before_attempt(self, attempt: Attempt) -> None:
        self.seen.append((self.name, "before", attempt.event.data["n"], attempt.number))

    def around_attempt(self, attempt: Attempt, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        async def wrapped() -> T:
            self.seen.append((self.name, "enter", attempt.event.data["n"], attempt.number))
            return await call()

        return wrapped()

    async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
        kind = None if error is None else type(error).__name__
        self.seen.append((self.name, "after", attempt.event.data["n"], attempt.number, kind))

    async def after_dead_letter(self, attempt: Attempt, reason: str) -> None:
        self.seen.append((self.name, "dead", attempt.event.data["n"], attempt.number, reason))


def _event() -> Event:
    return Event(type="orders", source="test", data={"n": 0})


def _consumer(**policies: Any) -> Consumer:
    async def handler(event: Event, ctx: DeliveryContext) -> None:
        return None

    return Consumer("handle", "orders", "erp", handler, **policies)


async def test_middleware_sees_each_attempt_its_outcome_and_the_dead_letter_in_order(
    store_url: str,
) -> None:
    app, orders = make_app(store_url, partitions=1)
    seen: Seen = []
    app.worker_options = dataclasses.replace(
        app.worker_options, middleware=[Recorder("outer", seen), Recorder("inner", seen)]
    )

    @app.consumer(orders, group="erp", concurrency=1, retry=Retry(attempts=2, base="10ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        seen.append(("handler", event.data["n"], ctx.attempt))
        if event.data["n"] == 1:
            raise ConnectionError("ERP down")

    async with app.running():
        await app.publish(orders, {"n": 0})
        await app.publish(orders, {"n": 1})
        await eventually(lambda: any(s[1] == "dead" for s in seen[1:]), what="a dead letter")

    first = [s for s in seen if (s[1] if s[0] == "handler" else s[2]) == 0]
    assert first == [
        ("outer", "before", 0, 1),
        ("inner", "before", 0, 1),
        ("outer", "enter", 0, 1),
        ("inner", "enter", 0, 1),
        ("handler", 0, 1),
        ("inner", "after", 0, 1, None),
        ("outer", "after", 0, 1, None),
    ]
    failing = [s for s in seen if s[0] == "outer" and s[2] == 1]
    assert failing == [
        ("outer", "before", 1, 1),
        ("outer", "enter", 1, 1),
        ("outer", "after", 1, 1, "ConnectionError"),
        ("outer", "before", 1, 2),
        ("outer", "enter", 1, 2),
        ("outer", "after", 1, 2, "ConnectionError"),
        ("outer", "dead", 1, 2, "gave up after 2 attempt(s)"),
    ]
    assert seen.index(("inner", "dead", 1, 2, "gave up after 2 attempt(s)")) < seen.index(
        ("outer", "dead", 1, 2, "gave up after 2 attempt(s)")
    ), "observers run innermost first"


async def test_a_failing_observer_is_logged_and_changes_nothing(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Middleware):
        async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
            raise RuntimeError("metrics backend is down")

    app, orders = make_app(store_url, partitions=1)
    app.worker_options = dataclasses.replace(app.worker_options, middleware=[Broken()])
    calls: list[int] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=3, base="10ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        calls.append(ctx.attempt)

    with caplog.at_level(logging.ERROR, logger="artery.middleware"):
        async with app.running():
            await app.publish(orders, {"n": 0})
            await eventually(lambda: calls == [1], what="one delivery")
            await eventually(lambda: "metrics backend is down" in caplog.text, what="the log")
            assert await app.dead_letters.list() == []
    assert calls == [1], "the observer's failure must not fail the attempt"
    assert "Broken failed in after_attempt" in caplog.text


async def test_a_failing_gate_stops_the_attempt_before_the_call(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Refusing(Middleware):
        async def before_attempt(self, attempt: Attempt) -> None:
            raise RuntimeError("gate refused")

    app, orders = make_app(store_url, partitions=1)
    app.worker_options = dataclasses.replace(app.worker_options, middleware=[Refusing()])
    calls: list[int] = []

    @app.consumer(orders, group="erp")
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        calls.append(ctx.attempt)

    with caplog.at_level(logging.ERROR, logger="artery.delivery"):
        async with app.running():
            await app.publish(orders, {"n": 0})
            await eventually(lambda: "in the engine (RuntimeError)" in caplog.text, what="the log")
    assert calls == [], "the handler must not run past a gate that raised"


async def test_a_consumer_policies_become_middleware_breaker_then_limit_then_timeout(
    sqlite_url: str,
) -> None:
    store = await open_store(sqlite_url)
    try:
        consumer = _consumer(breaker="erp", rate_limit=Limit.parse("erp:5/s"), timeout=2.0)
        stack = policies(consumer, Breakers(store, "w1"), RateLimiter(store))
    finally:
        await store.close()
    assert [type(m) for m in stack] == [BreakerMiddleware, RateLimitMiddleware, TimeoutMiddleware]


async def test_a_plain_consumer_pays_for_no_hook(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        consumer = _consumer(timeout=None)
        seam = seam_for(consumer, Breakers(store, "w1"), RateLimiter(store), ())
    finally:
        await store.close()
    assert (seam.before, seam.after, seam.dead_letter, seam.loops) == ((), (), (), {})


async def test_breaker_middleware_records_outcomes_but_not_permanent_failures() -> None:
    breaker = CircuitBreaker("erp", BreakerPolicy(min_calls=2, failure_ratio=1.0))
    middleware = BreakerMiddleware(breaker)
    event = _event()
    attempt = Attempt(event, "erp", "handle", 1, False, 0.0)
    await middleware.after_attempt(attempt, Permanent("bad order"))
    await middleware.after_attempt(attempt, Permanent("bad order"))
    assert breaker.state is BreakerState.CLOSED, "the event was judged, not the partner"
    await middleware.after_attempt(attempt, ConnectionError("down"))
    await middleware.after_attempt(attempt, ConnectionError("down"))
    assert breaker.state is BreakerState.OPEN


async def test_rate_limit_middleware_takes_a_cell_before_each_attempt(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    try:
        limiter, limit = RateLimiter(store), Limit("erp", 0.001, 2)
        middleware = RateLimitMiddleware(limiter, limit)
        attempt = Attempt(_event(), "erp", "handle", 1, False, 0.0)
        await middleware.before_attempt(attempt)
        await middleware.before_attempt(attempt)
        assert await limiter.try_acquire(limit) > 0, "both cells of the burst were taken"
    finally:
        await store.close()
