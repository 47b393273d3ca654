"""Steps are checkpointed: a resumed run replays history and continues after it."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from workflow_helpers import make_app

from artery import (
    ContractViolation,
    InvalidEvent,
    Retry,
    UnknownWorkflow,
    WorkflowContext,
    WorkflowError,
)
from artery.workflows import Status


async def test_workflow_runs_its_steps_and_returns_the_result(store_url: str) -> None:
    app = make_app(store_url)

    async def add(a: int, b: int) -> int:
        return a + b

    @app.workflow()
    async def total(ctx: WorkflowContext, order: dict) -> dict:
        subtotal = await ctx.step(add, order["a"], order["b"])
        with_tax = await ctx.step(add, subtotal, 1)
        return {"total": with_tax}

    async with app.running():
        handle = await app.start_workflow("total", {"a": 2, "b": 3})
        assert await handle.result(timeout=10) == {"total": 6}
        detail = await app.workflows.show(handle.run_id)
    assert [(s.position, s.kind, s.status, s.result) for s in detail.steps] == [
        (0, "step", "completed", 5),
        (1, "step", "completed", 6),
    ]
    assert detail.run.status is Status.COMPLETED


async def test_resumed_run_does_not_rerun_completed_steps(store_url: str) -> None:
    calls: Counter[str] = Counter()
    gate = asyncio.Event()

    def build(block: bool):  # type: ignore[no-untyped-def]
        app = make_app(store_url)

        async def charge(order: str) -> str:
            calls["charge"] += 1
            return f"charged {order}"

        async def ship(order: str) -> str:
            calls["ship"] += 1
            if block:
                await gate.wait()  # the "crash" happens while shipping
            return f"shipped {order}"

        @app.workflow()
        async def fulfil(ctx: WorkflowContext, order: str) -> list[str]:
            return [await ctx.step(charge, order), await ctx.step(ship, order)]

        return app

    first = build(block=True)
    async with first.running():
        handle = await first.start_workflow("fulfil", "A-1", id="run-1")
        while calls["ship"] == 0:
            await asyncio.sleep(0.01)
    second = build(block=False)
    async with second.running():
        result = await second.workflows.handle("run-1").result(timeout=15)
    assert result == ["charged A-1", "shipped A-1"]
    assert calls["charge"] == 1, "the checkpointed step is replayed, not re-run"
    assert calls["ship"] == 2, "the step that never finished runs again"
    assert handle.run_id == "run-1"


async def test_changed_code_is_detected_as_non_determinism(store_url: str) -> None:
    def build(first_step_name: str):  # type: ignore[no-untyped-def]
        app = make_app(store_url)

        async def step_a() -> int:
            return 1

        async def step_b() -> int:
            return 2

        @app.workflow()
        async def flow(ctx: WorkflowContext, _: None) -> None:
            await ctx.step(step_a if first_step_name == "a" else step_b)
            await ctx.sleep(1.5)

        return app

    async with build("a").running() as app:
        await app.start_workflow("flow", None, id="nd")
        await asyncio.sleep(0.3)
    async with build("b").running() as app:
        with pytest.raises(WorkflowError):
            await app.workflows.handle("nd").result(timeout=10)
        run = await app.workflows.get("nd")
    assert run.status is Status.FAILED and run.flagged
    assert "history has step" in run.error["message"] and "step_b" in run.error["message"]


async def test_step_retries_then_records_attempts(store_url: str) -> None:
    app = make_app(store_url)
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("partner blip")
        return "ok"

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> str:
        return await ctx.step(flaky, retry=Retry(attempts=5, base="10ms", cap="20ms"))

    async with app.running():
        handle = await app.start_workflow("flow")
        assert await handle.result(timeout=10) == "ok"
        (step,) = (await app.workflows.show(handle.run_id)).steps
    assert step.attempts == 3


async def test_step_result_must_be_json_serializable(store_url: str) -> None:
    app = make_app(store_url)

    async def returns_a_set() -> set[int]:
        return {1, 2}

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> None:
        await ctx.step(returns_a_set)

    async with app.running():
        handle = await app.start_workflow("flow")
        with pytest.raises(WorkflowError) as info:
            await handle.result(timeout=10)
    assert "not JSON-serializable" in str(info.value)


async def test_now_uuid_and_random_are_recorded(store_url: str) -> None:
    app = make_app(store_url)
    seen: list[tuple[str, str, float]] = []

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> list[object]:
        values = (str(await ctx.now()), await ctx.uuid(), await ctx.random())
        seen.append(values)
        await ctx.sleep(1.2)  # parks: the next execution replays the values
        return list(values)

    async with app.running():
        handle = await app.start_workflow("flow")
        result = await handle.result(timeout=10)
    assert len(seen) == 2, "executed once, replayed once after the sleep"
    assert seen[0] == seen[1]
    assert result == list(seen[0])


async def test_starting_twice_with_one_id_gives_one_run(store_url: str) -> None:
    app = make_app(store_url)
    runs = 0

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: None) -> int:
        nonlocal runs
        runs += 1
        return runs

    async with app.running():
        first = await app.start_workflow("flow", id="same")
        second = await app.start_workflow("flow", id="same")
        assert await first.result(timeout=10) == await second.result(timeout=10) == 1
    assert runs == 1


async def test_unknown_workflow_and_bad_input_are_clear_errors(store_url: str) -> None:
    app = make_app(store_url)
    refund = app.contract(
        "refund.requested",
        schema={
            "type": "object",
            "properties": {"amount": {"type": "number"}},
            "required": ["amount"],
        },
    )

    @app.workflow(input=refund)
    async def refund_flow(ctx: WorkflowContext, data: dict) -> None:
        return None

    async with app.running():
        with pytest.raises(UnknownWorkflow, match="known: \\['refund_flow'\\]"):
            await app.start_workflow("nope")
        with pytest.raises(ContractViolation, match="amount"):
            await app.start_workflow("refund_flow", {"amt": 3})


async def test_workflow_input_that_cannot_be_stored_is_refused_with_a_clear_error(
    store_url: str,
) -> None:
    app = make_app(store_url)

    @app.workflow()
    async def flow(ctx: WorkflowContext, _: object) -> None:
        return None

    async with app.running():
        with pytest.raises(InvalidEvent, match="the input of workflow 'flow' cannot be encoded"):
            await app.start_workflow("flow", {"ids": {1, 2}})


async def test_stored_step_and_run_errors_never_quote_classified_input_values(
    store_url: str,
) -> None:
    app = make_app(store_url)
    email = "erin@example.com"
    app.contract(
        "signup",
        schema={
            "type": "object",
            "properties": {"email": {"type": "string", "x-artery-classification": "pii"}},
        },
    )

    async def reserve(address: str) -> str:
        return "held"

    async def release(held: str, address: str) -> None:
        raise ConnectionError(f"could not release the hold of {address}")

    async def send(address: str) -> None:
        raise ValueError(f"mailbox {address} does not exist")

    @app.workflow(input="signup")
    async def welcome(ctx: WorkflowContext, request: dict) -> None:
        await ctx.step(reserve, request["email"], compensate=release)
        await ctx.step(send, request["email"])

    async with app.running():
        handle = await app.start_workflow("welcome", {"email": email})
        with pytest.raises(WorkflowError):
            await handle.result(timeout=10)
        detail = await app.workflows.show(handle.run_id)  # the rows as stored
    failed = next(step for step in detail.steps if step.status == "failed")
    assert failed.error is not None
    assert failed.error["message"] == "mailbox [redacted] does not exist"
    stored = repr(detail.run.error) + repr([s.error for s in detail.compensations])
    assert "[redacted]" in stored and email not in stored
