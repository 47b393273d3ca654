"""Retry policy (shared by deliveries and workflow steps): exponential backoff with jitter,
and which failures earn another attempt."""

from __future__ import annotations

import random

import pytest

from artery.errors import ConfigError
from artery.retry import Permanent, Retry, RetryLater


def test_delay_doubles_from_base_until_cap_without_jitter() -> None:
    policy = Retry(base=1.0, cap=10.0, jitter="none")
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_durations_are_accepted_as_text() -> None:
    policy = Retry(attempts=8, base="500ms", cap="10m")
    assert (policy.base, policy.cap) == (0.5, 600.0)


def test_delay_of_a_huge_attempt_number_is_the_cap() -> None:
    assert Retry(base="1s", cap="10m", jitter="none").delay(10_000) == 600.0


def test_full_jitter_spreads_delays_over_zero_to_the_backoff() -> None:
    policy = Retry(base=1.0, cap=100.0, jitter="full")
    rng = random.Random(7)
    delays = [policy.delay(4, rng) for _ in range(2000)]  # backoff 8s
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 0.5 and max(delays) > 7.5
    assert 3.5 < sum(delays) / len(delays) < 4.5


def test_equal_jitter_keeps_at_least_half_the_backoff() -> None:
    policy = Retry(base=1.0, cap=100.0, jitter="equal")
    rng = random.Random(7)
    delays = [policy.delay(4, rng) for _ in range(2000)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 4.5 and max(delays) > 7.5


def test_same_seed_gives_same_delays() -> None:
    policy = Retry()
    assert [policy.delay(3, random.Random(1)) for _ in range(3)] == [
        policy.delay(3, random.Random(1))
    ] * 3


def test_ordinary_errors_are_retried_until_attempts_are_used_up() -> None:
    policy = Retry(attempts=3)
    error = ConnectionError("partner down")
    assert [policy.should_retry(error, n) for n in (1, 2, 3)] == [True, True, False]


def test_single_attempt_policy_never_retries() -> None:
    assert not Retry(attempts=1).should_retry(TimeoutError(), 1)


def test_permanent_is_never_retried_even_when_listed_in_retry_on() -> None:
    policy = Retry(attempts=5, retry_on=(Permanent, Exception))
    assert not policy.should_retry(Permanent("invoice rejected"), 1)


def test_give_up_on_wins_over_retry_on() -> None:
    policy = Retry(retry_on=(Exception,), give_up_on=(ValueError,))
    assert not policy.should_retry(ValueError("bad data"), 1)
    assert policy.should_retry(TimeoutError(), 1)


def test_errors_outside_retry_on_are_not_retried() -> None:
    policy = Retry(retry_on=TimeoutError)
    assert policy.retry_on == (TimeoutError,)
    assert policy.should_retry(TimeoutError(), 1)
    assert not policy.should_retry(KeyError("x"), 1)


def test_base_exceptions_such_as_cancellation_are_not_retried() -> None:
    assert not Retry().should_retry(KeyboardInterrupt(), 1)


def test_retry_later_is_retried_even_when_retry_on_is_narrowed() -> None:
    policy = Retry(attempts=2, retry_on=(TimeoutError,))
    assert policy.should_retry(RetryLater("3s"), 1)
    assert not policy.should_retry(RetryLater("3s"), 2), "it still counts as an attempt"


def test_retry_later_sets_the_next_delay() -> None:
    later = RetryLater("1500ms", reason="429 Too Many Requests")
    assert later.after == 1.5
    assert "429" in str(later)
    policy = Retry(base=1.0, jitter="none")
    assert policy.delay_after(later, 3) == 1.5
    assert policy.delay_after(TimeoutError(), 3) == 4.0


def test_next_delay_is_the_wait_or_none_when_the_policy_gives_up() -> None:
    policy = Retry(attempts=3, base=1.0, jitter="none", give_up_on=KeyError)
    assert policy.next_delay(TimeoutError(), 1) == 1.0
    assert policy.next_delay(TimeoutError(), 2) == 2.0
    assert policy.next_delay(RetryLater("7s"), 2) == 7.0, "the handler's wait wins"
    assert policy.next_delay(TimeoutError(), 3) is None, "attempts used up"
    assert policy.next_delay(Permanent("no"), 1) is None
    assert policy.next_delay(KeyError("gone"), 1) is None


@pytest.mark.parametrize(
    ("kwargs", "fix_mentions"),
    [
        ({"attempts": 0}, "attempts=1"),
        ({"attempts": 2.5}, "attempts=1"),
        ({"base": 0}, "base="),
        ({"base": "soon"}, "unit"),
        ({"base": "10s", "cap": "1s"}, "cap"),
        ({"jitter": "random"}, "full"),
        ({"retry_on": ("TimeoutError",)}, "retry_on="),
    ],
)
def test_bad_arguments_raise_config_error_with_a_fix(
    kwargs: dict[str, object], fix_mentions: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Retry(**kwargs)  # type: ignore[arg-type]
    assert caught.value.fix is not None and fix_mentions in caught.value.fix


def test_delay_rejects_attempt_zero() -> None:
    with pytest.raises(ConfigError):
        Retry().delay(0)
