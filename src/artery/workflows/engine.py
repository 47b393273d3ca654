"""The workflow engine: claims runnable runs, executes them, parks and resumes them.

A run is executed by re-running its workflow function from the top against its history
(see ``context.py``). When it must wait (a long sleep, a signal, a child) it is parked in
the store and its task ends; it is claimed again when due or woken. Runs are leased to one
worker at a time; a worker renews its leases every ``lease_ttl / 3``, so the runs of a
worker that dies are claimed by another within about ``lease_ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from artery.attempts import AttemptError
from artery.clock import now_us
from artery.errors import ArteryError, Cancelled, ConfigError, NonDeterminism, StoreUnavailable
from artery.govern import Redactor, for_storing
from artery.health import log_failure
from artery.identity import new_worker_id
from artery.store import Tx
from artery.store.outage import riding_out
from artery.workflows import history
from artery.workflows.context import (
    CompensationRequested,
    Suspend,
    WorkflowContext,
    json_roundtrip,
)
from artery.workflows.definition import Workflow, WorkflowOptions
from artery.workflows.history import Run, Status, StepRecord
from artery.workflows.middleware import StepSeam

if TYPE_CHECKING:
    from artery.publishing import Publish
    from artery.runtime import Runtime

T = TypeVar("T")
log = logging.getLogger("artery.workflows")
_executing: ContextVar[str | None] = ContextVar("artery_executing_run", default=None)


class WorkflowEngine:
    def __init__(
        self,
        workflows: dict[str, Workflow],
        publish: Publish,
        options: WorkflowOptions | None = None,
    ) -> None:
        options = options or WorkflowOptions()
        self.workflows = workflows
        self.publish = publish  # how a run's ``ctx.publish`` appends its events
        self.options = options
        self.seam = StepSeam(options.middleware)  # around every step attempt of every run
        self.worker_id = new_worker_id()
        self.running: dict[str, asyncio.Task[None]] = {}
        self.active: dict[str, Run] = {}
        self.outcomes: dict[str, asyncio.Future[Run]] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- service -----------------------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stopping = False
        self._checkpoints = runtime.health.guard("workflow checkpoints", log)
        self._failing_checkpoints: set[str] = set()  # runs whose last checkpoint failed
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="artery-workflow-claims"),
            asyncio.create_task(self._renew_loop(), name="artery-workflow-leases"),
        ]

    async def stop(self) -> None:
        """Stop claiming; cancel running executions (their leases lapse or are released,
        and each resumes from its last checkpoint elsewhere or at the next start)."""
        self._stopping = True
        for task in [*self._tasks, *self.running.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self.running.values(), return_exceptions=True)
        self._failing_checkpoints.clear()  # stopped runs no longer fail here
        self.runtime.health.recovered(self._checkpoints.loop)
        with contextlib.suppress(StoreUnavailable):
            await self.runtime.store.write(self._release_all)

    def _release_all(self, tx: Tx) -> None:
        tx.execute(
            "UPDATE workflow_runs SET status = 'pending', lease_until = NULL, owner = NULL"
            " WHERE owner = ? AND status = 'running'",
            (self.worker_id,),
        )

    # -- store access ------------------------------------------------------------------

    async def write(self, op: Callable[[Tx], T]) -> T:
        """Checkpoints wait out store outages: a run pauses, it does not fail. An I/O
        error (a full disk) unwinds the run as ``CheckpointFailed``, to resume later; data
        the store refuses (a number out of range) would be refused at every replay, so that
        error is raised as it is and the run fails, flagged."""
        return await self._checkpoint(self.runtime.store.write, op)

    async def read(self, op: Callable[[Tx], T]) -> T:
        return await self._checkpoint(self.runtime.store.read, op)

    async def _checkpoint(
        self, call: Callable[[Callable[[Tx], T]], Awaitable[T]], op: Callable[[Tx], T]
    ) -> T:
        try:
            result = await riding_out(call, op, giving_up=self._is_stopping)
        except ArteryError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) or self.runtime.store.dialect.is_operational(exc):
                raise CheckpointFailed(exc) from exc
            raise
        self._checkpoint_ok()
        return result

    def _checkpoint_ok(self) -> None:
        """One run's checkpoint working says nothing of another run's full disk: the flag
        clears only once every run that failed a checkpoint has since written one."""
        self._failing_checkpoints.discard(_executing.get() or "")
        if not self._failing_checkpoints:
            self._checkpoints.ok()

    async def _checkpoint_failed(self, run: Run, failed: CheckpointFailed) -> None:
        self._failing_checkpoints.add(run.run_id)
        await self._checkpoints.failed(failed.cause)

    def _is_stopping(self) -> bool:
        return self._stopping

    def nudge(self) -> None:
        """Look for runnable runs now (a run was started, signalled, cancelled or retried)."""
        self._wakeup.set()

    # -- starting ----------------------------------------------------------------------

    def name_of(self, fn: Callable[..., Any]) -> str:
        for workflow in self.workflows.values():
            if workflow.fn is fn:
                return workflow.name
        return getattr(fn, "__qualname__", repr(fn))

    def has_room(self) -> bool:
        return not self._stopping and len(self.running) < self.options.concurrency

    def adopt(self, run: Run) -> None:
        """Execute a run this worker has just created and leased (no claim round-trip,
        and no history to load: a new run has none)."""
        self._spawn(run, fresh=True)

    def outcome(self, run_id: str) -> asyncio.Future[Run] | None:
        """A future for the end of a run executing here (None if it is not here)."""
        if run_id not in self.running:
            return None
        future = self.outcomes.get(run_id)
        if future is None:
            future = self.outcomes[run_id] = asyncio.get_running_loop().create_future()
        return future

    def lease_until(self) -> int:
        return now_us() + int(self.options.lease_ttl * 1_000_000)

    async def start_child(self, parent: str, position: int, workflow: str, input: Any) -> None:
        declared = self.workflows.get(workflow)
        child = Run(
            f"{parent}/{position}",
            workflow,
            Status.PENDING,
            input,
            parent_run=parent,
            started_by="child",
            integration=None if declared is None else declared.integration,
            traceparent=history.current_traceparent(),
        )
        await self.write(lambda tx: history.insert_run(tx, child, None, None))
        self._wakeup.set()

    # -- claiming ----------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        """Never dies: a failing iteration is logged once per streak, marks the process
        unhealthy, and is retried after a backoff (runs wait, they are not lost)."""
        guard = self.runtime.health.guard("workflow claims", log)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.poll_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                runs = await self._claim()
            except Exception as exc:
                await guard.failed(exc)
                continue
            guard.ok()
            for run in runs:
                self._spawn(run)

    async def _claim(self) -> list[Run]:
        room = self.options.concurrency - len(self.running)
        if room <= 0 or not await self.runtime.store.read(_anything_runnable):
            return []
        return await self.runtime.store.write(
            functools.partial(
                history.claim, owner=self.worker_id, lease_until=self.lease_until(), limit=room
            )
        )

    async def _renew_loop(self) -> None:
        """Renews only the runs executing here: a run whose task died lets its lease lapse
        and is claimed again, instead of being held forever by a live worker."""
        guard = self.runtime.health.guard("workflow leases", log)
        while True:
            await asyncio.sleep(self.options.lease_ttl / 3)
            renew = functools.partial(
                history.renew,
                owner=self.worker_id,
                run_ids=list(self.running),
                lease_until=self.lease_until(),
            )
            try:
                cancels = await self.runtime.store.write(renew)
            except Exception as exc:
                await guard.failed(exc)
                continue
            guard.ok()
            for run_id in cancels:
                self.interrupt(run_id)

    def interrupt(self, run_id: str) -> None:
        """Cancel a run executing here: it unwinds through its compensations."""
        run, task = self.active.get(run_id), self.running.get(run_id)
        if run is not None and task is not None and not run.cancel_requested:
            run.cancel_requested = True
            task.cancel(msg="cancel requested")

    def _spawn(self, run: Run, fresh: bool = False) -> None:
        if run.run_id in self.running:
            return
        task = asyncio.create_task(self._execute(run, fresh), name=f"workflow-{run.run_id}")
        self.running[run.run_id] = task
        self.active[run.run_id] = run
        task.add_done_callback(lambda _: self._done(run.run_id))

    def _done(self, run_id: str) -> None:
        self.running.pop(run_id, None)
        self.active.pop(run_id, None)
        future = self.outcomes.pop(run_id, None)  # parked or stopped: not ended
        if future is not None and not future.done():
            future.cancel()
        self._wakeup.set()

    # -- executing ---------------------------------------------------------------------

    async def _execute(self, run: Run, fresh: bool = False) -> None:
        """Run it; if the store fails it, leave it: the lease lapses (only runs executing
        here are renewed) and it resumes from its last checkpoint, claimed again."""
        _executing.set(run.run_id)  # this task's checkpoints are this run's
        try:
            await self._execute_run(run, fresh)
        except (asyncio.CancelledError, StoreUnavailable):
            raise
        except CheckpointFailed as failed:
            await self._checkpoint_failed(run, failed)
        except Exception as exc:  # a bug, or data the store refuses: flag it, not strand it
            log_failure(log, f"run {run.run_id} failed inside the engine", exc)
            try:
                await self._finish(run, Status.FAILED, None, _error(exc), flagged=True)
            except CheckpointFailed as failed:
                await self._checkpoint_failed(run, failed)

    async def _execute_run(self, run: Run, fresh: bool) -> None:
        workflow = self.workflows.get(run.workflow)
        if workflow is None:
            await self._finish_unknown(run)
            return
        steps = {} if fresh else await self.read(lambda tx: history.load_steps(tx, run.run_id))
        ctx = WorkflowContext(self, run, steps)
        try:
            result = await self._call(workflow, ctx)
        except Suspend:
            await self._park(ctx)
            return
        except NonDeterminism as exc:
            await self._finish(run, Status.FAILED, None, _error(exc), flagged=True)
            return
        except asyncio.CancelledError:
            return
        except Exception as exc:
            if ctx.suspended is not None:  # the code swallowed a wait, then failed: park
                await self._park(ctx)
            else:
                await self._unwind(ctx, run, exc)
            return
        try:
            stored = json_roundtrip(result, f"workflow {workflow.name!r}")
        except ConfigError as exc:  # every step succeeded: nothing to undo, someone to tell
            problem = f"{exc.message}; the run is left failed, its steps are not undone"
            await self._finish(
                run, Status.FAILED, None, _problem(exc.code, f"{problem} ({exc.fix})"), True
            )
            return
        await self._finish(run, Status.COMPLETED, stored, None, flagged=False)

    async def _call(self, workflow: Workflow, ctx: WorkflowContext) -> Any:
        """Run the workflow code; an operator's cancel surfaces in it as ``Cancelled``."""
        run = ctx.run
        try:
            result = await workflow.fn(ctx, run.input)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stopping or not run.cancel_requested or task is None:
                raise
            task.uncancel()
            raise Cancelled(f"run {run.run_id!r} was cancelled", fix="none needed") from None
        if ctx.suspended is not None:  # the code swallowed a wait and returned: still wait
            raise ctx.suspended
        ctx.raise_if_cancelled()  # cancelled before it ended (or after it failed): undo it
        return result

    async def _park(self, ctx: WorkflowContext) -> None:
        parked = ctx.suspended
        assert parked is not None
        park = functools.partial(
            history.suspend,
            run_id=ctx.run_id,
            status=parked.status,
            wake_at=parked.wake_at,
            child=parked.child,
        )
        await self.write(park)

    async def _finish_unknown(self, run: Run) -> None:
        """Without its code a run can neither go on nor compensate: a cancel just ends it."""
        message = f"no workflow named {run.workflow!r} in this app; deploy it or cancel the run"
        problem = _problem("artery.unknown-workflow", message)
        if run.cancel_requested:
            await self._finish(run, Status.CANCELLED, None, problem, flagged=False)
        else:
            await self._finish(run, Status.FAILED, None, problem, flagged=True)

    async def _unwind(self, ctx: WorkflowContext, run: Run, cause: Exception) -> None:
        """Run the compensations of completed steps in reverse order, each durably."""
        failed = await ctx.run_compensations()
        if failed is not None:
            error = {**(failed.error or {}), "compensating": _error(cause)}
            await self._finish(run, Status.FAILED, None, error, flagged=True)
            return
        requested = isinstance(cause, CompensationRequested)
        if run.cancel_requested or (isinstance(cause, Cancelled) and not requested):
            status = Status.CANCELLED  # cancels include a failed run the operator cancelled
        elif requested or ctx.compensations:
            status = Status.COMPENSATED
        else:
            status = Status.FAILED
        await self._finish(run, status, None, _error(cause), flagged=status is Status.FAILED)

    async def scrubbed(self, run: Run, error: dict[str, Any] | None) -> dict[str, Any] | None:
        """``error`` as it may be stored: exception messages quote what the code saw, so
        the classified values of the run's input are scrubbed out first. Only failures pay
        for the contract look-up."""
        workflow = self.workflows.get(run.workflow)
        if error is None or workflow is None or workflow.input_subject is None:
            return error
        redactor = await for_storing(self._input_redactor(run, workflow.input_subject))
        return redactor.error(error)

    async def _input_redactor(self, run: Run, subject: str) -> Redactor:
        paths = await self.runtime.registry.sensitive_paths_anywhere(subject)
        return Redactor.of(run.input, paths or ())

    async def _finish(
        self, run: Run, status: Status, result: Any, error: dict[str, Any] | None, flagged: bool
    ) -> None:
        error = await self.scrubbed(run, error)
        await self.write(lambda tx: history.finish(tx, run.run_id, status, result, error, flagged))
        run.status, run.result, run.error, run.flagged = status, result, error, flagged
        if self.runtime.settings.metrics:
            m = self.runtime.metrics
            m.child(m.workflow_runs, run.workflow, str(status.value)).inc()
        future = self.outcomes.pop(run.run_id, None)
        if future is not None and not future.done():
            future.set_result(run)
        if run.parent_run:
            self._wakeup.set()


class CheckpointFailed(BaseException):
    """The store could not write a checkpoint for a reason other than an outage (a full
    disk, an I/O error). Not the workflow's failure: it unwinds the code (a
    ``BaseException``, so ``except Exception`` cannot swallow it) without compensating,
    and the run resumes from its last checkpoint later."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


def _anything_runnable(tx: Tx) -> bool:
    stamp = now_us()
    return (
        tx.one(
            "SELECT 1 FROM workflow_runs WHERE (status IN ('pending', 'running')"
            " AND (lease_until IS NULL OR lease_until < ?))"
            " OR (status IN ('sleeping', 'waiting') AND wake_at <= ?) LIMIT 1",
            (stamp, stamp),
        )
        is not None
    )


def _error(exc: BaseException) -> dict[str, Any]:
    return AttemptError.from_exception(exc, 0, time.time(), 0.0).to_dict()


def _problem(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "message": message,
        "traceback": [],
        "attempt": 0,
        "at": time.time(),
        "duration": 0.0,
    }


__all__ = ["StepRecord", "WorkflowEngine"]
