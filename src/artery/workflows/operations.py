"""Operating workflows: start, wait for results, signal, cancel, retry, list, show.

The same operations back the Python API (``app.workflows``), the CLI and the admin API.
They work with or without an engine in this process: a run started here is executed here
at once when this process runs an engine with room, otherwise by whichever worker claims it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.envelope import encode_json
from artery.errors import ConfigError, Conflict, NotFound, UnknownWorkflow, WorkflowError
from artery.store import Tx
from artery.workflows import history
from artery.workflows.context import COMPENSATION_BASE
from artery.workflows.definition import Workflow
from artery.workflows.engine import WorkflowEngine
from artery.workflows.history import TERMINAL, Run, Status, StepRecord

if TYPE_CHECKING:
    from artery.runtime import Runtime


@dataclass(frozen=True)
class RunDetail:
    run: Run
    steps: list[StepRecord]
    compensations: list[StepRecord]


POLL = 0.05  # how often a handle re-reads a run executing in another process


class WorkflowHandle:
    def __init__(self, ops: Workflows, run_id: str) -> None:
        self.ops = ops
        self.run_id = run_id

    async def status(self) -> Status:
        return (await self.ops.get(self.run_id)).status

    async def result(self, timeout: float | None = None) -> Any:
        """Wait for the run to end; its result, or ``WorkflowError`` if it did not complete.

        A run executing in this process reports its end directly; otherwise the store is
        polled."""
        async with asyncio.timeout(timeout):
            while True:
                run = await self.ops.ended_here(self.run_id)
                if run is None:
                    run = await self.ops.get(self.run_id)
                if run.status in TERMINAL:
                    if run.status is Status.COMPLETED:
                        return run.result
                    raise WorkflowError(run.run_id, run.status.value, run.error)
                await asyncio.sleep(POLL)


class Workflows:
    def __init__(
        self, workflows: Mapping[str, Workflow], runtime: Runtime, engine: WorkflowEngine | None
    ) -> None:
        self.workflows = workflows  # the declared ones, which can be started here
        self.registry = runtime.registry
        self.store = runtime.store
        self.engine = engine

    async def start(
        self, name: str, input: Any = None, *, id: str | None = None, started_by: str = "api"
    ) -> WorkflowHandle:
        """Start a run (or return the existing run with this id: starting is idempotent)."""
        workflow = self.workflows.get(name)
        if workflow is None:
            raise UnknownWorkflow(
                f"no workflow named {name!r}",
                fix=f"declare it with @app.workflow; known: {sorted(self.workflows)}",
            )
        encode_json(input, f"the input of workflow {name!r}")
        if workflow.input_subject is not None:
            version = await self.registry.get(workflow.input_subject)
            self.registry.validate(version, input)
        run_id = id or f"{name}-{uuid.uuid4().hex[:16]}"
        engine = self.engine
        adopt = engine is not None and engine.has_room()
        run = Run(
            run_id,
            name,
            Status.RUNNING if adopt else Status.PENDING,
            input,
            started_by=started_by,
            integration=workflow.integration,
            traceparent=history.current_traceparent(),
        )
        owner = engine.worker_id if adopt and engine else None
        lease = engine.lease_until() if adopt and engine else None
        created = await self.store.write(lambda tx: history.insert_run(tx, run, owner, lease))
        if created and adopt and engine is not None:
            engine.adopt(run)
        return WorkflowHandle(self, run_id)

    def handle(self, run_id: str) -> WorkflowHandle:
        return WorkflowHandle(self, run_id)

    async def get(self, run_id: str) -> Run:
        run = await self.store.read(lambda tx: history.load_run(tx, run_id))
        if run is None:
            raise NotFound(
                f"workflow run {run_id!r} does not exist",
                fix="list runs with `artery workflows list`",
            )
        return run

    async def ended_here(self, run_id: str) -> Run | None:
        """The ended run if it is executing in this process (None otherwise, or if it
        parked instead of ending)."""
        future = None if self.engine is None else self.engine.outcome(run_id)
        if future is None:
            return None
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return None
            raise

    async def signal(
        self,
        run_id: str,
        name: str,
        payload: Any = None,
        *,
        record: Callable[[Tx, Run], None] | None = None,
    ) -> None:
        """Deliver signal ``name`` to a live run. ``record`` is called with the run in the
        signal's own transaction (the admin API and CLI note a person's signal there)."""
        run = await self.get(run_id)
        if run.status in TERMINAL:
            raise Conflict(
                f"run {run_id!r} is {run.status.value}; it takes no more signals",
                fix="signal a run that is still going (artery workflows list)",
            )
        encode_json(payload, f"the payload of signal {name!r}")

        def op(tx: Tx) -> None:
            history.add_signal(tx, run_id, name, payload)
            if record is not None:
                record(tx, run)

        await self.store.write(op)
        self._nudge()

    async def cancel(self, run_id: str) -> None:
        """Ask a run and its children to stop; each runs its compensations and ends
        ``cancelled``. A failed run can be cancelled too: the compensations it has not
        completed run (a failing one fails it again, flagged)."""
        run = await self.get(run_id)
        if run.status in TERMINAL and run.status is not Status.FAILED:
            raise Conflict(
                f"run {run_id!r} already ended {run.status.value}", fix="nothing to cancel"
            )
        cancelled = await self.store.write(lambda tx: history.request_cancel(tx, run_id))
        if self.engine is not None:
            for each in cancelled:
                self.engine.interrupt(each)
        self._nudge()

    async def retry(self, run_id: str) -> None:
        """Re-run a failed run from the step (or compensation) that failed."""
        run = await self.get(run_id)
        if run.status is not Status.FAILED:
            raise Conflict(
                f"run {run_id!r} is {run.status.value}, not failed",
                fix="only failed runs can be retried",
            )
        await self.store.write(lambda tx: _reopen(tx, run_id))
        self._nudge()

    async def list(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        flagged: bool | None = None,
        integration: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Runs, newest first; each given filter narrows the list (``integration`` finds
        only runs that recorded it, never those started before integrations were)."""
        if status is not None and status not in {s.value for s in Status}:
            raise ConfigError(
                f"unknown status {status!r}", fix=f"use one of {[s.value for s in Status]}"
            )
        return await self.store.read(
            lambda tx: history.list_runs(tx, workflow, status, flagged, limit, integration)
        )

    async def show(self, run_id: str) -> RunDetail:
        run = await self.get(run_id)
        steps = await self.store.read(lambda tx: history.load_steps(tx, run_id))
        ordered = [steps[p] for p in sorted(steps)]
        return RunDetail(
            run,
            [s for s in ordered if s.position < COMPENSATION_BASE],
            [s for s in ordered if s.position >= COMPENSATION_BASE],
        )

    def _nudge(self) -> None:
        if self.engine is not None:
            self.engine.nudge()


def _reopen(tx: Tx, run_id: str) -> None:
    """Forget the failed record so the next execution runs it again; completed steps stay.
    A run that failed while compensating retries the compensation, not the step."""
    compensating = tx.one(
        "SELECT 1 FROM workflow_steps WHERE run_id = ? AND position >= ?",
        (run_id, COMPENSATION_BASE),
    )
    floor = COMPENSATION_BASE if compensating else 0
    tx.execute(
        "DELETE FROM workflow_steps WHERE run_id = ? AND status = 'failed' AND position >= ?",
        (run_id, floor),
    )
    tx.execute(
        "UPDATE workflow_runs SET status = 'pending', flagged = 0, error_json = NULL,"
        " owner = NULL, lease_until = NULL, wake_at = NULL WHERE run_id = ?",
        (run_id,),
    )
