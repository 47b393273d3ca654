"""Consumers: at-least-once delivery that survives handler failures, on both stores."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict

import pytest
from delivery_helpers import FAST, eventually, make_app

from artery import App, DeliveryContext, Event, Filter, Permanent, Retry, RetryLater, WorkerOptions

QUICK = Retry(attempts=3, base="10ms", cap="40ms")


async def test_every_event_is_handled_once_in_the_happy_path(store_url: str) -> None:
    app, orders = make_app(store_url)
    seen: Counter[int] = Counter()

    @app.consumer(orders, group="erp")
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        seen[event.data["n"]] += 1

    async with app.running():
        for n in range(200):
            await app.publish(orders, {"n": n}, key=f"c{n % 7}")
        await eventually(lambda: len(seen) == 200, what="all 200 events")
        await eventually(lambda: _lag_is_zero(app), what="offsets committed")
    assert set(seen.values()) == {1}


async def _lag_is_zero(app) -> bool:  # type: ignore[no-untyped-def]
    return sum((await app.log.lag("erp", "orders")).values()) == 0


async def test_failed_event_is_redelivered_after_backoff(store_url: str) -> None:
    app, orders = make_app(store_url)
    attempts: list[tuple[int, float]] = []

    @app.consumer(
        orders, group="erp", retry=Retry(attempts=5, base="100ms", cap="1s", jitter="none")
    )
    async def flaky(event: Event, ctx: DeliveryContext) -> None:
        attempts.append((ctx.attempt, time.monotonic()))
        if ctx.attempt < 3:
            raise ConnectionError("partner down")

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: len(attempts) == 3, what="third attempt")
        await asyncio.sleep(0.2)
        assert await app.dead_letters.list() == []
    assert [a for a, _ in attempts] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, f"backoff 100ms then 200ms, got {gaps}"


async def test_exhausted_event_becomes_a_dead_letter_with_every_error(store_url: str) -> None:
    app, orders = make_app(store_url)

    @app.consumer(orders, group="erp", retry=QUICK)
    async def broken(event: Event, ctx: DeliveryContext) -> None:
        raise ValueError(f"cannot post invoice (attempt {ctx.attempt})")

    async with app.running():
        stored = await app.publish(orders, {"n": 7})
        await eventually(lambda: _dead_count(app, 1), what="a dead letter")
        (letter,) = await app.dead_letters.list()
        assert letter.event.id == stored.id and letter.event.data == {"n": 7}
        assert [e.attempt for e in letter.errors] == [1, 2, 3]
        assert letter.errors[-1].type == "builtins.ValueError"
        assert "attempt 3" in letter.errors[-1].message
        assert letter.reason == "gave up after 3 attempt(s)"
        assert await app.dead_letters.depth() == {("erp", letter.consumer): 1}
        await eventually(lambda: _lag_is_zero(app), what="offset moves past the dead letter")


async def _dead_count(app, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await app.dead_letters.list()) == n


async def test_permanent_error_skips_remaining_attempts(store_url: str) -> None:
    app, orders = make_app(store_url)
    calls = 0

    @app.consumer(orders, group="erp", retry=Retry(attempts=10, base="10ms"))
    async def reject(event: Event, ctx: DeliveryContext) -> None:
        nonlocal calls
        calls += 1
        raise Permanent("customer does not exist in the ERP")

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: _dead_count(app, 1), what="a dead letter")
        (letter,) = await app.dead_letters.list()
    assert calls == 1
    assert letter.reason == "permanent error"


async def test_retry_later_waits_at_least_the_requested_time(store_url: str) -> None:
    app, orders = make_app(store_url)
    times: list[float] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=3, base="10ms"))
    async def limited(event: Event, ctx: DeliveryContext) -> None:
        times.append(time.monotonic())
        if ctx.attempt == 1:
            raise RetryLater("400ms", reason="429 Too Many Requests")

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: len(times) == 2, what="second attempt")
    assert times[1] - times[0] >= 0.39


async def test_handler_over_its_timeout_is_cancelled_and_counted_failed(store_url: str) -> None:
    app, orders = make_app(store_url)
    cancelled = 0

    @app.consumer(orders, group="erp", timeout="100ms", retry=Retry(attempts=2, base="10ms"))
    async def hangs(event: Event, ctx: DeliveryContext) -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: _dead_count(app, 1), what="a dead letter")
        (letter,) = await app.dead_letters.list()
    assert cancelled == 2
    assert letter.errors[0].type == "builtins.TimeoutError"
    assert "timed out after 0.1s" in letter.errors[0].message


async def test_unordered_failed_event_does_not_hold_back_others(store_url: str) -> None:
    app, orders = make_app(store_url, partitions=1)
    done: list[int] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=3, base="300ms", jitter="none"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        if event.data["n"] == 0 and ctx.attempt == 1:
            raise ConnectionError("first one fails once")
        done.append(event.data["n"])

    async with app.running():
        for n in range(5):
            await app.publish(orders, {"n": n}, key="same-customer")
        await eventually(lambda: len(done) == 5, what="all five")
    assert done[-1] == 0, "the failed event completes after the others flowed past it"


async def test_ordered_failure_blocks_only_its_own_key(store_url: str) -> None:
    app, orders = make_app(store_url, partitions=1)
    done: dict[str, list[int]] = defaultdict(list)

    @app.consumer(
        orders, group="erp", ordered=True, retry=Retry(attempts=3, base="300ms", jitter="none")
    )
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        if event.data["n"] == 0 and ctx.attempt == 1:
            raise ConnectionError("first one fails once")
        done[event.data["customer"]].append(event.data["n"])

    async with app.running():
        for n in range(6):
            customer = "a" if n % 2 == 0 else "b"
            await app.publish(orders, {"n": n, "customer": customer}, key=customer)
        await eventually(lambda: len(done["b"]) == 3, what="key b flows")
        assert done["a"] == [], "key a waits behind its failed head"
        await eventually(lambda: len(done["a"]) == 3, what="key a after its retry")
    assert done["a"] == [0, 2, 4]
    assert done["b"] == [1, 3, 5]


async def test_idempotency_key_is_stable_across_retries(store_url: str) -> None:
    app, orders = make_app(store_url)
    keys: list[str] = []

    @app.consumer(orders, group="erp", retry=QUICK)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        keys.append(ctx.idempotency_key)
        if ctx.attempt < 3:
            raise ConnectionError("again")

    async with app.running():
        stored = await app.publish(orders, {"n": 1})
        await eventually(lambda: len(keys) == 3, what="three attempts")
    assert set(keys) == {f"erp:{stored.id}"}


async def test_dedupe_never_reruns_a_completed_event_after_a_lost_commit(
    store_url: str,
) -> None:
    app, orders = make_app(store_url)
    seen: Counter[int] = Counter()

    @app.consumer(orders, group="erp", dedupe=True)
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        seen[event.data["n"]] += 1

    async with app.running():
        for n in range(20):
            await app.publish(orders, {"n": n})
        await eventually(lambda: len(seen) == 20, what="all twenty")
    async with app.running(None):
        await app.log.reset("erp", "orders", to="earliest")  # as if the commits were lost
    async with app.running():
        await app.publish(orders, {"n": 99})
        await eventually(lambda: seen[99] == 1, what="the new event")
        await asyncio.sleep(0.2)
    assert set(seen.values()) == {1}


async def test_redrive_reruns_the_current_handler_code(store_url: str) -> None:
    app, orders = make_app(store_url)
    partner_fixed = False
    delivered: list[int] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        if not partner_fixed:
            raise ConnectionError("partner rejects")
        delivered.append(event.data["n"])

    async with app.running():
        for n in range(3):
            await app.publish(orders, {"n": n})
        await eventually(lambda: _dead_count(app, 3), what="three dead letters")
        partner_fixed = True
        letters = await app.dead_letters.list()
        assert await app.dead_letters.redrive(Filter(ids=(letters[0].id,))) == 1
        await eventually(lambda: len(delivered) == 1, what="one redriven")
        assert await app.dead_letters.redrive(Filter(group="erp")) == 2
        await eventually(lambda: len(delivered) == 3, what="all redriven")
        assert await app.dead_letters.list() == []
        assert len(await app.dead_letters.list(Filter(include_redriven=True))) == 3


async def test_purge_needs_confirmation_and_a_selection(store_url: str) -> None:
    from artery import ConfigError

    app, orders = make_app(store_url)

    @app.consumer(orders, group="erp", retry=Retry(attempts=1))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        raise Permanent("no")

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: _dead_count(app, 1), what="a dead letter")
        with pytest.raises(ConfigError, match="confirmation"):
            await app.dead_letters.purge(Filter(group="erp"))
        with pytest.raises(ConfigError, match="needs a selection"):
            await app.dead_letters.purge(Filter(), confirm=True)
        assert await app.dead_letters.purge(Filter(group="erp"), confirm=True) == 1
        assert await app.dead_letters.list(Filter(include_redriven=True)) == []


async def test_scheduled_retry_survives_a_restart_and_fires_on_time(store_url: str) -> None:
    app, orders = make_app(store_url)
    attempts: list[tuple[int, float]] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=3, base="10ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        attempts.append((ctx.attempt, time.monotonic()))
        if ctx.attempt == 1:
            raise RetryLater("1s")

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: len(attempts) == 1, what="first attempt")
    assert len(attempts) == 1, "stopped before the retry was due"
    async with app.running():
        await eventually(lambda: len(attempts) == 2, what="retry after restart")
    assert attempts[1][0] == 2
    assert attempts[1][1] - attempts[0][1] >= 0.95


async def test_replay_redelivers_history_to_one_group_only(store_url: str) -> None:
    app, orders = make_app(store_url)
    seen: dict[str, list[int]] = defaultdict(list)

    @app.consumer(orders, group="erp")
    async def erp(event: Event, ctx: DeliveryContext) -> None:
        seen["erp"].append(event.data["n"])

    @app.consumer(orders, group="crm")
    async def crm(event: Event, ctx: DeliveryContext) -> None:
        seen["crm"].append(event.data["n"])

    async with app.running():
        for n in range(10):
            await app.publish(orders, {"n": n})
        await eventually(lambda: len(seen["erp"]) == len(seen["crm"]) == 10, what="both")
        await eventually(lambda: _lag_is_zero(app), what="erp committed")
    async with app.running(None):
        await app.log.reset("erp", "orders", to="earliest")
    async with app.running():
        await eventually(lambda: len(seen["erp"]) == 20, what="erp replayed")
        await asyncio.sleep(0.2)
    assert len(seen["crm"]) == 10
    assert sorted(seen["erp"]) == sorted(list(range(10)) * 2)


async def test_new_group_can_start_at_the_end(store_url: str) -> None:
    app, orders = make_app(store_url)
    seen: list[int] = []
    async with app.running():
        await app.publish(orders, {"n": 1})

    @app.consumer(orders, group="late", start="latest")
    async def late(event: Event, ctx: DeliveryContext) -> None:
        seen.append(event.data["n"])

    async with app.running():
        await app.publish(orders, {"n": 2})
        await eventually(lambda: seen == [2], what="only the new event")


async def test_replay_takes_effect_while_the_worker_runs(store_url: str) -> None:
    app, orders = make_app(store_url, partitions=2)
    seen: list[int] = []

    @app.consumer(orders, group="erp")
    async def erp(event: Event, ctx: DeliveryContext) -> None:
        seen.append(event.data["n"])

    async with app.running():
        for n in range(6):
            await app.publish(orders, {"n": n})
        await eventually(lambda: len(seen) == 6, what="first pass")
        await eventually(lambda: _lag_is_zero(app), what="committed")
        await app.log.reset("erp", "orders", to="earliest")  # as `artery replay` does
        await eventually(lambda: len(seen) == 12, timeout=10, what="replayed while running")
        await asyncio.sleep(0.3)
    assert sorted(seen) == sorted(list(range(6)) * 2)


async def test_a_retry_that_finished_during_a_slow_poll_is_not_run_again(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artery.delivery import retry_schedule

    real_pending = retry_schedule.pending

    def slow_pending(*args: object, **kwargs: object) -> list[retry_schedule.PendingRetry]:
        rows = real_pending(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.2)  # the rows are read now but handed over late
        return rows

    monkeypatch.setattr(retry_schedule, "pending", slow_pending)
    app, orders = make_app(store_url)
    attempts: list[int] = []

    @app.consumer(orders, group="erp", retry=Retry(attempts=5, base="10ms", cap="10ms"))
    async def handle(event: Event, ctx: DeliveryContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RetryLater(0)
        await asyncio.sleep(0.1)  # the retry is still running when the next poll reads

    async with app.running():
        await app.publish(orders, {"n": 1})
        await eventually(lambda: len(attempts) >= 2, what="the retry")
        await asyncio.sleep(1.0)  # several slow polls listing the finished retry's old row
    assert attempts == [1, 2], "a retry that completed must not run again"


async def test_stored_attempt_errors_never_quote_the_events_classified_values(
    store_url: str,
) -> None:
    app = App("delivery-test", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    card = "4111111111111111"
    payments = app.contract(
        "payments",
        schema={
            "type": "object",
            "properties": {"card": {"type": "string", "x-artery-classification": "secret"}},
        },
        partitions=1,
    )

    @app.consumer(payments, group="psp", retry=Retry(attempts=2, base="10ms", cap="10ms"))
    async def charge(event: Event, ctx: DeliveryContext) -> None:
        raise ValueError(f"card {event.data['card']} declined")

    async with app.running():
        await app.publish(payments, {"card": card})

        async def buried() -> bool:
            return len(await app.dead_letters.list()) == 1

        await eventually(buried, what="a dead letter")
        (letter,) = await app.dead_letters.list()
        stored = await app.dead_letters.get(letter.id)  # the row as stored, not a view
    assert [error.message for error in stored.errors] == ["card [redacted] declined"] * 2
