"""When to try a failed attempt again, and how long to wait first: one policy for both
engines, a consumer's deliveries and a workflow's steps.

``Retry`` is an immutable policy: exponential backoff from ``base`` doubling per attempt up
to ``cap``, with jitter as described in the AWS Architecture Blog post "Exponential Backoff
And Jitter" (full jitter by default, so that many consumers failing together do not retry
together). Handlers steer it with two exceptions: ``RetryLater`` (the partner said when,
e.g. a ``Retry-After`` header) and ``Permanent`` (trying again cannot help).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, get_args

from artery.durations import seconds
from artery.errors import ConfigError

__all__ = ["Jitter", "Permanent", "Retry", "RetryLater"]

Jitter = Literal["full", "equal", "none"]
_JITTERS: tuple[str, ...] = get_args(Jitter)
_MAX_DOUBLINGS = 62  # 2**62 times any sane base is past any cap; avoids float overflow


class RetryLater(Exception):
    """Raised by a handler: try again after ``after`` seconds. It counts as an attempt."""

    def __init__(self, after: float | str, reason: str = "") -> None:
        self.after = seconds(after)
        self.reason = reason
        text = f"retry requested in {self.after:g}s"
        super().__init__(f"{text}: {reason}" if reason else text)


class Permanent(Exception):
    """Raised by a handler: no further attempts; the event goes straight to dead letters."""


ExceptionTypes = tuple[type[BaseException], ...]


@dataclass(frozen=True, init=False)
class Retry:
    """How many attempts a delivery gets and how long to wait between them.

    ``attempts`` counts every attempt including the first, so ``attempts=1`` never retries.
    ``base`` and ``cap`` accept seconds or durations such as ``"500ms"`` and ``"10m"``.
    """

    attempts: int
    base: float
    cap: float
    jitter: Jitter
    retry_on: ExceptionTypes
    give_up_on: ExceptionTypes

    def __init__(
        self,
        attempts: int = 5,
        base: float | str = 1.0,
        cap: float | str = 600.0,
        jitter: Jitter = "full",
        retry_on: ExceptionTypes | type[BaseException] = (Exception,),
        give_up_on: ExceptionTypes | type[BaseException] = (),
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(
                f"Retry attempts must be a whole number of at least 1, not {attempts!r}",
                fix="count every attempt including the first: attempts=1 means never retry",
            )
        base_s, cap_s = seconds(base), seconds(cap)
        if base_s <= 0:
            raise ConfigError(
                f"Retry base must be longer than zero, not {base!r}",
                fix='give the first delay as a positive duration, e.g. base="1s"',
            )
        if cap_s < base_s:
            raise ConfigError(
                f"Retry cap {cap!r} is shorter than its base {base!r}",
                fix="make cap at least as long as base",
            )
        if jitter not in _JITTERS:
            raise ConfigError(
                f"unknown Retry jitter {jitter!r}", fix=f"use one of {', '.join(_JITTERS)}"
            )
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "base", base_s)
        object.__setattr__(self, "cap", cap_s)
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(self, "retry_on", _exception_types("retry_on", retry_on))
        object.__setattr__(self, "give_up_on", _exception_types("give_up_on", give_up_on))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        if attempt < 1:
            raise ConfigError(f"attempt numbers start at 1, not {attempt}", fix="pass attempt >= 1")
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
        uniform = (rng or random).uniform
        if self.jitter == "full":
            return uniform(0.0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + uniform(0.0, ceiling / 2)
        return ceiling

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether failed attempt ``attempt`` (1-based) that raised ``exc`` earns another.

        ``Permanent`` and ``give_up_on`` always stop; ``RetryLater`` is retried even when
        ``retry_on`` is narrowed, because the handler asked for it explicitly.
        """
        if attempt >= self.attempts:
            return False
        if isinstance(exc, (Permanent, *self.give_up_on)):
            return False
        return isinstance(exc, (RetryLater, *self.retry_on))

    def delay_after(
        self, exc: BaseException, attempt: int, rng: random.Random | None = None
    ) -> float:
        """The wait before the next attempt: ``RetryLater.after`` if given, else ``delay``."""
        if isinstance(exc, RetryLater):
            return exc.after
        return self.delay(attempt, rng)

    def next_delay(
        self, exc: BaseException, attempt: int, rng: random.Random | None = None
    ) -> float | None:
        """The whole decision after failed attempt ``attempt``: the seconds to wait before
        the next one, or None when there is none (give up). Both engines ask this, so a
        delivery and a step with the same policy retry alike."""
        if not self.should_retry(exc, attempt):
            return None
        return self.delay_after(exc, attempt, rng)


def _exception_types(field: str, value: ExceptionTypes | type[BaseException]) -> ExceptionTypes:
    types = (value,) if isinstance(value, type) else tuple(value)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigError(
                f"Retry {field} must list exception classes, got {item!r}",
                fix=f"write e.g. {field}=(TimeoutError, ConnectionError)",
            )
    return types
