"""``WorkflowContext``: what workflow code calls, and how a run's history makes it durable.

Every call takes the next *position* in the run. When the history already has that
position, the call replays it (returns the recorded result, raises the recorded error)
without running anything; otherwise it runs and records. Workflow code must therefore be
deterministic between calls: the same inputs and recorded results lead to the same calls
in the same order. A mismatch stops the run with ``NonDeterminism`` instead of corrupting
it; ``ctx.patched()`` lets old runs keep an old path while new runs take a new one.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import random as random_module
import time
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from artery.attempts import AttemptError
from artery.clock import now_us
from artery.durations import seconds
from artery.envelope import encode_json
from artery.errors import (
    Cancelled,
    ConfigError,
    NonDeterminism,
    SignalTimeout,
    StepFailed,
    WorkflowError,
)
from artery.retry import Retry
from artery.store import LARGEST_INTEGER
from artery.workflows import history
from artery.workflows.history import Run, Status, StepRecord
from artery.workflows.middleware import StepAttempt, StepKind

if TYPE_CHECKING:
    from artery.integration import Contract
    from artery.workflows.engine import WorkflowEngine

COMPENSATION_BASE = 1_000_000  # compensation steps are recorded from this position on
IN_MEMORY_SLEEP = 1.0  # shorter sleeps keep the run in memory instead of parking it
NO_RETRY = Retry(attempts=1)


@dataclass(frozen=True)
class StepInfo:
    """The step being run; ``idempotency_key`` is stable across re-executions of it."""

    run_id: str
    position: int
    name: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}:{self.position}"


_current: contextvars.ContextVar[StepInfo] = contextvars.ContextVar("artery_step")


def current_step() -> StepInfo:
    """The step this code runs in (for idempotency keys to hand to partners)."""
    try:
        return _current.get()
    except LookupError:
        raise ConfigError(
            "current_step() called outside a workflow step",
            fix="call it from a function run by ctx.step(...)",
        ) from None


class Suspend(BaseException):
    """Unwinds a run that must wait; the engine parks it in the store.

    Control flow, not an error: it derives from ``BaseException`` (as Temporal's and DBOS's
    signals do) so that workflow code's ``except Exception`` cannot swallow a durable wait
    and carry on as if it had elapsed. Code that swallows it anyway (a bare ``except``)
    gains nothing: the context stays suspended and the engine parks the run regardless."""

    def __init__(self, status: Status, wake_at: int | None, child: str | None = None) -> None:
        self.status = status
        self.wake_at = wake_at
        self.child = child


@dataclass(frozen=True)
class Compensation:
    position: int
    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    retry: Retry


class WorkflowContext:
    def __init__(self, engine: WorkflowEngine, run: Run, steps: dict[int, StepRecord]):
        self.engine = engine
        self.run = run
        self.run_id = run.run_id
        self._history = steps
        self._frontier = max((p for p in steps if p < COMPENSATION_BASE), default=-1)
        self._position = -1
        self.compensations: list[Compensation] = []
        self.suspended: Suspend | None = None  # set once the run must wait; sticks

    # -- steps ---------------------------------------------------------------------------

    async def step(
        self,
        fn: Callable[..., Any],
        *args: Any,
        retry: Retry | None = None,
        timeout: float | str | None = None,
        compensate: Callable[..., Any] | None = None,
        compensate_retry: Retry | None = None,
        name: str | None = None,
    ) -> Any:
        """Run ``fn(*args)`` once per run (async or sync); its result is checkpointed.

        ``compensate`` is called as ``compensate(result, *args)`` if the run later fails."""
        position = self._next()
        label = name or str(getattr(fn, "__qualname__", repr(fn)))
        recorded = self._replay(position, "step", label)
        if recorded is None:
            recorded = await self._execute(position, label, fn, args, retry, timeout)
        if recorded.status == "failed":
            raise StepFailed(label, recorded.error or {})
        if compensate is not None:
            self.compensations.append(
                Compensation(
                    position,
                    getattr(compensate, "__qualname__", repr(compensate)),
                    compensate,
                    (recorded.result, *args),
                    compensate_retry or Retry(attempts=5, base=0.5, cap=30),
                )
            )
        return recorded.result

    async def _execute(
        self,
        position: int,
        label: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        retry: Retry | None,
        timeout: float | str | None,
        kind: StepKind = "step",
    ) -> StepRecord:
        """Run a step's attempts through the engine's middleware until one succeeds or the
        policy gives up, and record the outcome."""
        if kind == "step":  # compensations run precisely because of a cancel
            self.raise_if_cancelled()
        policy, seam = retry or NO_RETRY, self.engine.seam
        limit = None if timeout is None else seconds(timeout)
        started = now_us()
        errors: list[AttemptError] = []
        for number in range(1, policy.attempts + 1):
            attempt = StepAttempt(
                self.run_id,
                self.run.workflow,
                position,
                label,
                kind,
                number,
                time.monotonic(),
                self.run.traceparent,
            )
            for gate in seam.before:
                await gate(attempt)
            token = _current.set(StepInfo(self.run_id, position, label, number))
            called = time.monotonic()
            try:
                async with asyncio.timeout(limit):
                    value = await seam.around(attempt, lambda: _call(fn, args))
                result = json_roundtrip(value, f"step {label!r}")
            except Exception as exc:
                ended, took = time.time(), time.monotonic() - called
                for observe in seam.after:
                    await observe(attempt, exc)
                if isinstance(exc, ConfigError):
                    raise
                errors.append(AttemptError.from_exception(exc, number, ended, took))
                delay = policy.next_delay(exc, number)
                if delay is None:
                    break
                await asyncio.sleep(delay)
                continue
            finally:
                _current.reset(token)
            for observe in seam.after:
                await observe(attempt, None)
            return await self._saved(
                StepRecord(
                    position, kind, label, "completed", result, None, number, started, now_us()
                )
            )
        error = await self.engine.scrubbed(self.run, errors[-1].to_dict())
        return await self._saved(
            StepRecord(position, kind, label, "failed", None, error, len(errors), started, now_us())
        )

    async def run_compensations(self) -> StepRecord | None:
        """Undo the completed steps: their compensations in reverse order, each durably and
        once (a resumed run skips the ones already recorded). Returns the record of the
        compensation that failed (the ones before it are not tried), or None once all are
        done. The engine calls this when a run fails or is cancelled; workflow code calls
        ``compensate()`` instead."""
        for index, comp in enumerate(reversed(self.compensations)):
            position = COMPENSATION_BASE + index
            recorded = self._history.get(position)
            if recorded is None or recorded.status != "completed":
                self._position = position - 1
                record = await self._execute(
                    position, comp.name, comp.fn, comp.args, comp.retry, None, kind="compensation"
                )
                if record.status == "failed":
                    return record
        return None

    # -- time, randomness, versioning --------------------------------------------------

    async def now(self) -> datetime:
        value = await self._recorded("now", lambda: datetime.now(UTC).isoformat())
        return datetime.fromisoformat(value)

    async def uuid(self) -> str:
        return str(await self._recorded("uuid", lambda: str(uuid_module.uuid4())))

    async def random(self) -> float:
        return float(await self._recorded("random", random_module.random))

    async def patched(self, change_id: str) -> bool:
        """True for runs that reach this point with the change deployed; False for runs
        that got past it under the old code (they keep the old path)."""
        if change_id in self.run.patches:
            return True
        if self._position < self._frontier:
            return False
        self.run.patches.append(change_id)
        patches = list(self.run.patches)
        await self.engine.write(lambda tx: history.add_patch(tx, self.run_id, patches))
        return True

    # -- timers and signals ------------------------------------------------------------

    async def sleep(self, duration: float | str | timedelta) -> None:
        wait = _storable_wait(duration, "ctx.sleep")
        await self._timer(lambda: min(now_us() + wait, LARGEST_INTEGER))

    async def sleep_until(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ConfigError("sleep_until needs an aware datetime", fix="add tzinfo=UTC")
        await self._timer(lambda: int(moment.timestamp() * 1_000_000))

    async def _timer(self, wake_at: Callable[[], int]) -> None:
        """Record the wake-up time once; every replay sleeps until that same moment."""
        position = self._next()
        recorded = self._replay(position, "sleep", "sleep")
        if recorded is None:
            self.raise_if_cancelled()
            at = wake_at()
            await self._save(
                StepRecord.instant(position, "sleep", "sleep", "completed", {"wake_at": at})
            )
        else:
            at = int(recorded.result["wake_at"])
        await self._sleep_until_us(at)

    async def _sleep_until_us(self, wake_at: int) -> None:
        remaining = (wake_at - now_us()) / 1_000_000
        if remaining <= 0:
            return
        self.raise_if_cancelled()  # a replayed sleep of a cancelled run must not park it again
        if remaining <= IN_MEMORY_SLEEP:
            await asyncio.sleep(remaining)
            return
        self._suspend(Status.SLEEPING, wake_at)

    async def wait_for_signal(self, name: str, timeout: float | str | None = None) -> Any:
        """The payload of the next signal ``name`` (signals sent earlier are kept), or
        ``SignalTimeout`` once ``timeout`` passes. The run holds no memory while waiting."""
        wait = None if timeout is None else _storable_wait(timeout, "wait_for_signal timeout")
        position = self._next()
        recorded = self._replay(position, "signal", name)
        if recorded is not None and recorded.status == "completed":
            return recorded.result["payload"]
        if recorded is not None and recorded.status == "timed_out":
            raise SignalTimeout(f"signal {name!r} did not come in time", fix="send it sooner")
        self.raise_if_cancelled()
        if recorded is None:
            deadline = None if wait is None else min(now_us() + wait, LARGEST_INTEGER)
        else:
            deadline = recorded.result.get("deadline")
        outcome, payload = await self.engine.write(
            lambda tx: history.take_or_wait(
                tx, self.run_id, position, name, deadline, recorded is None
            )
        )
        if outcome == "timed_out":
            raise SignalTimeout(f"signal {name!r} did not come in time", fix="send it sooner")
        if outcome == "signal":
            return payload
        self._suspend(Status.WAITING, deadline)

    # -- children and events -----------------------------------------------------------

    async def child(self, workflow: str | Callable[..., Any], input: Any = None) -> Any:
        """Run another workflow as part of this one and return its result."""
        name = workflow if isinstance(workflow, str) else self.engine.name_of(workflow)
        position = self._next()
        recorded = self._replay(position, "child", name)
        if recorded is not None and recorded.status == "completed":
            return recorded.result
        if recorded is not None and recorded.status == "failed":
            raise WorkflowError(f"{self.run_id}/{position}", "failed", recorded.error)
        self.raise_if_cancelled()
        child_id = f"{self.run_id}/{position}"
        if recorded is None:
            encode_json(input, f"the input of child workflow {name!r}")
            await self.engine.start_child(self.run_id, position, name, input)
        child = await self.engine.read(lambda tx: history.load_run(tx, child_id))
        if child is None or child.status not in history.TERMINAL:
            self._suspend(Status.WAITING, None, child=child_id)
        status = "completed" if child.status is Status.COMPLETED else "failed"
        error = child.error or {"type": "artery.workflow", "message": f"child {child.status}"}
        failure = None if status == "completed" else error
        await self._save(StepRecord.instant(position, "child", name, status, child.result, failure))
        if status == "failed":
            raise WorkflowError(child_id, child.status.value, error)
        return child.result

    async def publish(self, contract: Contract | str, data: Any, **attrs: Any) -> str:
        """Publish an event exactly once per run position; returns the event id."""
        position = self._next()
        topic = contract if isinstance(contract, str) else contract.subject
        recorded = self._replay(position, "publish", topic)
        if recorded is not None:
            return str(recorded.result["id"])
        self.raise_if_cancelled()
        attrs.setdefault("idempotency_key", f"workflow:{self.run_id}:{position}")
        attrs.setdefault("correlation_id", self.run_id)
        event = await self.engine.publish(contract, data, **attrs)
        await self._save(
            StepRecord.instant(
                position, "publish", topic, "completed", {"id": event.id, "offset": event.offset}
            )
        )
        return event.id

    def compensate(self) -> None:
        """Stop here and undo the completed steps (their compensations run in reverse)."""
        raise CompensationRequested("workflow asked to compensate", fix="none needed")

    # -- plumbing ----------------------------------------------------------------------

    def _next(self) -> int:
        if self.suspended is not None:  # the code swallowed a wait: it may not go on
            self._suspend(self.suspended.status, self.suspended.wake_at, self.suspended.child)
        self._position += 1
        return self._position

    def _suspend(self, status: Status, wake_at: int | None, child: str | None = None) -> NoReturn:
        self.suspended = Suspend(status, wake_at, child)
        raise self.suspended

    def _replay(self, position: int, kind: str, name: str) -> StepRecord | None:
        recorded = self._history.get(position)
        if recorded is None:
            return None
        if (recorded.kind, recorded.name) != (kind, name):
            raise NonDeterminism(
                f"run {self.run_id!r} position {position}: history has {recorded.kind}"
                f" {recorded.name!r} but the code now asks for {kind} {name!r}",
                fix="deploy the code the run started with, or guard the change with ctx.patched()",
            )
        return recorded

    async def _recorded(self, kind: str, make: Callable[[], Any]) -> Any:
        position = self._next()
        recorded = self._replay(position, kind, kind)
        if recorded is not None:
            return recorded.result
        value = make()
        await self._save(StepRecord.instant(position, kind, kind, "completed", value))
        return value

    async def _save(self, record: StepRecord) -> None:
        await self.engine.write(lambda tx: history.record_step(tx, self.run_id, record))
        self._history[record.position] = record

    async def _saved(self, record: StepRecord) -> StepRecord:
        await self._save(record)
        return record

    def raise_if_cancelled(self) -> None:
        """Raise ``Cancelled`` if an operator asked to cancel the run: code about to start
        something long may ask first (the engine asks before each step and once the code
        returns, so a cancelled run is undone rather than completed)."""
        if self.run.cancel_requested:
            raise Cancelled(f"run {self.run_id!r} was cancelled", fix="none needed")


class CompensationRequested(Cancelled):
    code = "artery.compensation-requested"


async def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if isinstance(result, Awaitable):
        return await result
    return result


def json_roundtrip(value: Any, producer: str) -> Any:
    """Fresh and replayed results must be the same value: both come from JSON.

    ``producer`` names what returned the value (a step, a workflow) for the error."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError as exc:
        raise ConfigError(
            f"{producer} returned a value that cannot be stored:"
            f" it is not JSON-serializable ({exc})",
            fix="return dicts, lists, strings, numbers, booleans or None",
        ) from None


def _storable_wait(duration: float | str | timedelta, what: str) -> int:
    """The wait in microseconds, refused if its wake time could never be stored (past
    2**63 µs after 1970): the run would fail to park at every replay."""
    wait = seconds(duration) * 1_000_000
    if not wait < LARGEST_INTEGER - now_us():  # also refuses inf and nan
        raise ConfigError(
            f"{what} of {duration!r} is too long: the store cannot record a wake-up that late",
            fix="wait less than 100,000 years; to wait without end, wait for a signal",
        )
    return int(wait)
