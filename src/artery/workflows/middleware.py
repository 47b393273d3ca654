"""The workflow side of the seam (see ``artery.middleware``): what an attempt of a step is.

The engine runs every ``before_attempt``, then the step's function inside every
``around_attempt`` (and inside the step's own ``timeout``), then every ``after_attempt``
with its outcome, once per attempt: a step retried three times is three attempts. A step
replayed from history runs nothing, so it reaches no hook. Compensations are steps too
(``kind`` says which).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from artery.middleware import Middleware, Seam

__all__ = ["StepAttempt", "StepKind", "StepMiddleware", "StepSeam"]

StepKind = Literal["step", "compensation"]


class StepAttempt(NamedTuple):
    """One attempt of the step at ``position`` of run ``run_id``; ``number`` counts from 1
    within this execution of the step; ``began`` is ``time.monotonic()`` before its gates."""

    run_id: str
    workflow: str
    position: int
    name: str
    kind: StepKind
    number: int
    began: float
    traceparent: str | None = None  # the trace the run was started in


class StepMiddleware(Middleware[StepAttempt]):
    """No-op step hooks; override the ones you need."""


StepSeam = Seam[StepAttempt]
