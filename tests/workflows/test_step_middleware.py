"""Every step attempt of a workflow passes the same middleware seam as deliveries do:
gates before it, wrappers around the call, observers after it with its outcome."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from workflow_helpers import make_app

from artery import Permanent, Retry, WorkflowContext, WorkflowError
from artery.workflows import Status
from artery.workflows.middleware import StepAttempt, StepMiddleware

T = TypeVar("T")
Seen = list[tuple[Any, ...]]


class Recorder(StepMiddleware):
    """Writes down every hook it is called with: (who, hook, kind, step, attempt[, error])."""

    def __init__(self, name: str, seen: Seen) -> None:
        self.name, self.seen = name, seen

    def _note(self, hook: str, attempt: StepAttempt, *more: Any) -> None:
        step = attempt.name.rsplit(".", 1)[-1]
        self.seen.append((self.name, hook, attempt.kind, step, attempt.number, *more))

    async def before_attempt(self, attempt: StepAttempt) -> None:
        self._note("before", attempt)

    def around_attempt(
        self, attempt: StepAttempt, call: Callable[[], Awaitable[T]]
    ) -> Awaitable[T]:
        async def wrapped() -> T:
            self._note("enter", attempt)
            return await call()

        return wrapped()

    async def after_attempt(self, attempt: StepAttempt, error: Exception | None) -> None:
        self._note("after", attempt, None if error is None else type(error).__name__)


async def test_middleware_sees_every_step_attempt_and_compensation_with_its_outcome(
    store_url: str,
) -> None:
    app = make_app(store_url)
    seen: Seen = []
    app.workflow_options = dataclasses.replace(
        app.workflow_options, middleware=[Recorder("outer", seen), Recorder("inner", seen)]
    )
    reserve_calls: list[int] = []

    async def charge(order: str) -> str:
        return f"charged {order}"

    async def refund(charged: str, order: str) -> None:
        return None

    async def reserve(order: str) -> str:
        reserve_calls.append(1)
        if len(reserve_calls) == 1:
            raise ConnectionError("stock service blinked")
        raise Permanent("out of stock")

    @app.workflow()
    async def fulfil(ctx: WorkflowContext, order: str) -> None:
        await ctx.step(charge, order, compensate=refund)
        await ctx.step(reserve, order, retry=Retry(attempts=3, base="10ms"))

    async with app.running():
        handle = await app.start_workflow("fulfil", "A-1")
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        assert await handle.status() is Status.COMPENSATED
    assert [s[1:] for s in seen if s[0] == "outer"] == [
        ("before", "step", "charge", 1),
        ("enter", "step", "charge", 1),
        ("after", "step", "charge", 1, None),
        ("before", "step", "reserve", 1),
        ("enter", "step", "reserve", 1),
        ("after", "step", "reserve", 1, "ConnectionError"),
        ("before", "step", "reserve", 2),
        ("enter", "step", "reserve", 2),
        ("after", "step", "reserve", 2, "Permanent"),
        ("before", "compensation", "refund", 1),
        ("enter", "compensation", "refund", 1),
        ("after", "compensation", "refund", 1, None),
    ]
    assert [s[:2] for s in seen[:6]] == [
        ("outer", "before"),
        ("inner", "before"),
        ("outer", "enter"),
        ("inner", "enter"),
        ("inner", "after"),
        ("outer", "after"),
    ], "gates and wrappers outermost first, observers innermost first"


async def test_a_replayed_step_reaches_no_hook(store_url: str) -> None:
    app = make_app(store_url)
    seen: Seen = []
    app.workflow_options = dataclasses.replace(
        app.workflow_options, middleware=[Recorder("only", seen)]
    )

    async def charge(order: str) -> str:
        return f"charged {order}"

    @app.workflow()
    async def fulfil(ctx: WorkflowContext, order: str) -> str:
        charged = await ctx.step(charge, order)
        await ctx.sleep(1.2)  # long enough to park the run: it resumes by replaying
        return str(await ctx.step(charge, charged, name="charge again"))

    async with app.running():
        handle = await app.start_workflow("fulfil", "A-1")
        assert await handle.result(timeout=10) == "charged charged A-1"
    assert [s[1:4] for s in seen if s[1] == "before"] == [
        ("before", "step", "charge"),
        ("before", "step", "charge again"),
    ]


async def test_a_failing_step_observer_is_logged_and_changes_nothing(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(StepMiddleware):
        async def after_attempt(self, attempt: StepAttempt, error: Exception | None) -> None:
            raise RuntimeError("tracing backend is down")

    app = make_app(store_url)
    app.workflow_options = dataclasses.replace(app.workflow_options, middleware=[Broken()])

    async def charge(order: str) -> str:
        return f"charged {order}"

    @app.workflow()
    async def fulfil(ctx: WorkflowContext, order: str) -> str:
        return str(await ctx.step(charge, order))

    with caplog.at_level(logging.ERROR, logger="artery.middleware"):
        async with app.running():
            handle = await app.start_workflow("fulfil", "A-1")
            assert await handle.result(timeout=10) == "charged A-1"
    assert "Broken failed in after_attempt" in caplog.text
