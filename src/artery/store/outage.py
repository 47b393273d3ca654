"""Waiting out a store outage instead of failing the work that needed the store."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from artery.errors import StoreUnavailable
from artery.store.protocol import Tx

T = TypeVar("T")
log = logging.getLogger("artery.store")


def backoff() -> float:
    """How long to wait before trying an unreachable store again (jittered around 0.5 s)."""
    return 0.5 * (0.5 + random.random())


async def riding_out(
    call: Callable[[Callable[[Tx], T]], Awaitable[T]],
    op: Callable[[Tx], T],
    *,
    giving_up: Callable[[], bool] = lambda: False,
) -> T:
    """Run ``op`` through ``store.read`` or ``store.write``, retrying while the store is
    unreachable: an outage pauses the caller, it never drops or skips the work. Raises
    ``StoreUnavailable`` only once ``giving_up()`` is true (shutdown)."""
    failures = 0
    while True:
        try:
            result = await call(op)
        except StoreUnavailable as exc:
            if giving_up():
                raise
            failures += 1
            if failures == 1:  # once per outage, not at every retry
                log.warning("store unavailable, waiting for it: %s", exc.message)
            await asyncio.sleep(backoff())
            continue
        if failures:
            log.warning("store reachable again after %d retries", failures)
        return result
