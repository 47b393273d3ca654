"""Workflow steps observed, as step middleware on the seam (``artery.middleware``): each
attempt of a step or compensation timed in ``artery_workflow_step_duration_seconds`` by
workflow, step and outcome (runs reaching a final state are counted by the engine), and
traced in the trace its run was started in."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from artery.observe import tracing
from artery.observe.metrics import Metrics
from artery.workflows.middleware import StepAttempt, StepMiddleware

__all__ = ["StepObserver", "StepTracing"]
T = TypeVar("T")


class StepObserver(StepMiddleware):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def after_attempt(self, attempt: StepAttempt, error: Exception | None) -> None:
        m = self.metrics
        outcome = "ok" if error is None else "failed"
        name = attempt.name if attempt.kind == "step" else f"compensate:{attempt.name}"
        child = m.child(m.step_duration, attempt.workflow, name, outcome)
        child.observe(time.monotonic() - attempt.began)


class StepTracing(StepMiddleware):
    """A span per step attempt (``{kind} {name}``, internal), in the trace the run was
    started in (the delivery or request that started it), so what a step publishes or
    calls continues that trace. Without recording, the run's context is only made
    current. Exceptions are recorded by type only: their messages may quote payloads."""

    def __init__(self, tracing_: tracing.Tracing) -> None:
        self.tracer = tracing_.tracer
        self.recording = tracing_.recording

    def around_attempt(
        self, attempt: StepAttempt, call: Callable[[], Awaitable[T]]
    ) -> Awaitable[T]:
        if not self.recording:
            if attempt.traceparent is None:
                return call()
            return self._carried(attempt, call)
        return self._traced(attempt, call)

    async def _carried(self, attempt: StepAttempt, call: Callable[[], Awaitable[T]]) -> T:
        token = tracing.attach_remote(attempt.traceparent)
        try:
            return await call()
        finally:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]

    async def _traced(self, attempt: StepAttempt, call: Callable[[], Awaitable[T]]) -> T:
        attributes: dict[str, str | int] = {
            "artery.workflow.name": attempt.workflow,
            "artery.workflow.run_id": attempt.run_id,
            "artery.workflow.step": attempt.name,
            "artery.workflow.attempt": attempt.number,
        }
        with self.tracer.start_as_current_span(
            f"{attempt.kind} {attempt.name}",
            context=tracing.extract(attempt.traceparent),
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                return await call()
            except BaseException as exc:
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise
