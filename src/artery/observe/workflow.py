"""Workflow step durations, as step middleware on the seam (``artery.middleware``): each
attempt of a step or compensation observed in ``artery_workflow_step_duration_seconds``
by workflow, step and outcome. (Runs reaching a final state are counted by the engine.)"""

from __future__ import annotations

import time

from artery.observe.metrics import Metrics
from artery.workflows.middleware import StepAttempt, StepMiddleware

__all__ = ["StepObserver"]


class StepObserver(StepMiddleware):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def after_attempt(self, attempt: StepAttempt, error: Exception | None) -> None:
        m = self.metrics
        outcome = "ok" if error is None else "failed"
        name = attempt.name if attempt.kind == "step" else f"compensate:{attempt.name}"
        child = m.child(m.step_duration, attempt.workflow, name, outcome)
        child.observe(time.monotonic() - attempt.began)
