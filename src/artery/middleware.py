"""The seam around attempts, shared by both engines: a consumer's deliveries and a
workflow's steps.

Cross-cutting behaviour (a circuit breaker, a rate limit, a timeout; next tracing, metrics,
PII projection, audit) is a ``Middleware`` with up to three hooks, as Dramatiq's middleware
and Temporal's interceptors are, instead of ``if`` branches in the engines:

- ``before_attempt``: a gate. It may wait (an open breaker, an exhausted rate limit); it
  should not raise to refuse. What it raises is not a failed attempt (it burns no retry and
  buries nothing): it escapes the attempt before the call, as a store outage inside the
  rate limiter always has. Delivery logs it as a fault of the partition's loop and leaves
  the event unsettled for redelivery; a workflow step raises it into the workflow code.
- ``around_attempt``: wraps the call itself, outermost first (a timeout, a span).
- ``after_attempt``: an observer, told the attempt's outcome (``error`` is None on
  success), innermost first. What it raises is logged and ignored: watching an attempt
  must not change what happened to it. An attempt cancelled from outside (shutdown, a lost
  lease) has no outcome and reaches no ``after_attempt``.

A ``Seam`` is built once (per consumer, per engine) and keeps only the hooks each
middleware overrides, so an attempt with no middleware costs one empty loop per stage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

__all__ = ["After", "Around", "Before", "Middleware", "Seam", "guarded", "overrides"]

A = TypeVar("A")
A_contra = TypeVar("A_contra", contravariant=True)
T = TypeVar("T")
log = logging.getLogger("artery.middleware")

Before = Callable[[A], Awaitable[None]]
After = Callable[[A, Exception | None], Awaitable[None]]


class Middleware(Generic[A]):
    """No-op hooks around an attempt ``A``; override the ones you need."""

    async def before_attempt(self, attempt: A) -> None:
        """Runs before the call, in stack order; may wait, may raise to stop it."""

    def around_attempt(self, attempt: A, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """Returns the awaitable that runs ``call``; a plain function, so a wrapper that only
        hands back another awaitable costs no coroutine of its own."""
        return call()

    async def after_attempt(self, attempt: A, error: Exception | None) -> None:
        """Runs once the call succeeded (``error`` None) or failed, in reverse stack order."""


class Seam(Generic[A]):
    """The hooks of a middleware stack, sorted by stage once, to be run per attempt.

    Engines loop over ``before`` and ``after`` themselves (``for hook in seam.before:
    await hook(attempt)``): an empty stage then costs no await at all."""

    def __init__(self, stack: Sequence[Middleware[A]]) -> None:
        self.stack = tuple(stack)
        self.before: tuple[Before[A], ...] = tuple(
            m.before_attempt for m in self.stack if overrides(m, Middleware, "before_attempt")
        )
        wrappers = [m for m in self.stack if overrides(m, Middleware, "around_attempt")]
        self.around: Around[A] = _compose(wrappers)
        self.after: tuple[After[A], ...] = tuple(
            guarded(m, m.after_attempt)
            for m in reversed(self.stack)
            if overrides(m, Middleware, "after_attempt")
        )


class Around(Protocol[A_contra]):
    """Runs ``call`` inside every ``around_attempt`` of a stack, the first outermost."""

    def __call__(self, attempt: A_contra, call: Callable[[], Awaitable[T]], /) -> Awaitable[T]: ...


def _direct(attempt: object, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    return call()


def _compose(wrappers: Sequence[Middleware[A]]) -> Around[A]:
    """The stack's wrappers as one function, composed once per seam: with one wrapper (a
    consumer's timeout) it is that wrapper's own hook, with no closure per attempt."""
    if not wrappers:
        return _direct
    inner: Around[A] = wrappers[-1].around_attempt
    for outer in reversed(wrappers[:-1]):
        inner = _layer(outer, inner)
    return inner


def _layer(outer: Middleware[A], inner: Around[A]) -> Around[A]:
    def around(attempt: A, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return outer.around_attempt(attempt, lambda: inner(attempt, call))

    return around


def overrides(middleware: object, base: type, hook: str) -> bool:
    """Whether ``middleware`` replaces ``base``'s no-op ``hook``."""
    return getattr(type(middleware), hook) is not getattr(base, hook)


def guarded(
    middleware: object, hook: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    """``hook`` with what it raises logged and swallowed (an observer's failure must not
    change the attempt it watched)."""

    async def run(*args: object) -> None:
        try:
            await hook(*args)
        except Exception:
            log.exception("middleware %s failed in %s", type(middleware).__name__, hook.__name__)

    return run
