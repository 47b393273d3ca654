"""The time budget of a compatibility check, enforced by the check itself.

A check runs in the caller's thread (or one the caller started for it) and polls its
`Deadline` at every comparison step, so a check that cannot finish in time stops at the
deadline and the caller gets its refusal then: no abandoned thread keeps working, and the
process can exit.
"""

from __future__ import annotations

import time

DEFAULT_BUDGET = 10.0  # seconds a check may take before it gives up and refuses


class OutOfTime(Exception):
    """The comparison did not finish within its budget (internal; `check` reports it)."""


class Deadline:
    """A point on the monotonic clock after which the comparison gives up (None: never)."""

    __slots__ = ("_at", "budget")

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self._at = None if budget is None else time.monotonic() + budget

    def check(self) -> None:
        if self._at is not None and time.monotonic() >= self._at:
            raise OutOfTime
