"""What a run has done so far, in the store: the run row, its recorded steps, its signals.

Every function here runs inside one store transaction. The engine's writes are
group-committed, so checkpoints of many concurrent runs share one commit while each step
is still durable before the workflow moves past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from opentelemetry import trace

from artery.clock import now_us
from artery.store import Tx


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.COMPENSATED, Status.CANCELLED})
LIVE = tuple(s.value for s in Status if s not in TERMINAL)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


@dataclass
class Run:
    run_id: str
    workflow: str
    status: Status
    input: Any
    result: Any = None
    error: dict[str, Any] | None = None
    parent_run: str | None = None
    started_by: str = "api"
    flagged: bool = False
    cancel_requested: bool = False
    patches: list[str] = field(default_factory=list)
    wake_at: int | None = None
    created_at: int = 0
    updated_at: int = 0
    integration: str | None = None  # None: started before integrations were recorded
    traceparent: str | None = None  # the trace it was started in (W3C), for its steps' spans


@dataclass(frozen=True)
class StepRecord:
    position: int
    kind: str
    name: str
    status: str  # completed | failed | waiting | timed_out
    result: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 1
    started_at: int = 0
    finished_at: int = 0

    @classmethod
    def instant(
        cls,
        position: int,
        kind: str,
        name: str,
        status: str,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> StepRecord:
        """A record of something that takes no time: a timer set, a signal taken, a publish."""
        stamp = now_us()
        return cls(position, kind, name, status, result, error, 1, stamp, stamp)


_RUN_COLUMNS = (
    "run_id, workflow, status, input_json, result_json, error_json, parent_run, started_by,"
    " flagged, cancel_requested, patches_json, wake_at, created_at, updated_at, integration,"
    " traceparent"
)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current OpenTelemetry context (the delivery, request or
    step starting a run), or None: the run's steps continue that trace."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"


def _run(row: Any) -> Run:
    return Run(
        run_id=row[0],
        workflow=row[1],
        status=Status(row[2]),
        input=loads(row[3]),
        result=loads(row[4]),
        error=loads(row[5]),
        parent_run=row[6],
        started_by=row[7],
        flagged=bool(row[8]),
        cancel_requested=bool(row[9]),
        patches=loads(row[10]),
        wake_at=row[11],
        created_at=int(row[12]),
        updated_at=int(row[13]),
        integration=row[14],
        traceparent=row[15],
    )


def insert_run(tx: Tx, run: Run, owner: str | None, lease_until: int | None) -> bool:
    """Create the run unless one with this id exists (then nothing changes): False."""
    stamp = now_us()
    row = tx.one(
        f"INSERT INTO workflow_runs ({_RUN_COLUMNS}, owner, lease_until)"
        " VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, 0, 0, '[]', NULL, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id) DO NOTHING RETURNING run_id",
        (
            run.run_id,
            run.workflow,
            run.status.value,
            dumps(run.input),
            run.parent_run,
            run.started_by,
            stamp,
            stamp,
            run.integration,
            run.traceparent,
            owner,
            lease_until,
        ),
    )
    return row is not None


def load_run(tx: Tx, run_id: str) -> Run | None:
    row = tx.one(f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE run_id = ?", (run_id,))
    return None if row is None else _run(row)


def list_runs(
    tx: Tx,
    workflow: str | None,
    status: str | None,
    flagged: bool | None,
    limit: int,
    integration: str | None = None,
) -> list[Run]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    for column, value in (
        ("workflow", workflow),
        ("status", status),
        ("integration", integration),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if flagged is not None:
        clauses.append("flagged = ?")
        params.append(int(flagged))
    rows = tx.execute(
        f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE {' AND '.join(clauses)}"
        " ORDER BY created_at DESC LIMIT ?",
        [*params, limit],
    )
    return [_run(r) for r in rows]


def load_steps(tx: Tx, run_id: str) -> dict[int, StepRecord]:
    rows = tx.execute(
        "SELECT position, kind, name, status, result_json, error_json, attempts, started_at,"
        " finished_at FROM workflow_steps WHERE run_id = ? ORDER BY position",
        (run_id,),
    )
    return {
        int(r[0]): StepRecord(
            int(r[0]), r[1], r[2], r[3], loads(r[4]), loads(r[5]), int(r[6]), int(r[7]), int(r[8])
        )
        for r in rows
    }


def record_step(tx: Tx, run_id: str, step: StepRecord) -> None:
    tx.execute(
        "INSERT INTO workflow_steps (run_id, position, kind, name, status, result_json,"
        " error_json, attempts, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, position) DO UPDATE SET status = excluded.status,"
        " result_json = excluded.result_json, error_json = excluded.error_json,"
        " attempts = excluded.attempts, finished_at = excluded.finished_at",
        (
            run_id,
            step.position,
            step.kind,
            step.name,
            step.status,
            dumps(step.result),
            None if step.error is None else dumps(step.error),
            step.attempts,
            step.started_at,
            step.finished_at,
        ),
    )


def finish(
    tx: Tx, run_id: str, status: Status, result: Any, error: dict[str, Any] | None, flagged: bool
) -> None:
    """End a run and wake its parent if the parent waits for it."""
    row = tx.one(
        "UPDATE workflow_runs SET status = ?, result_json = ?, error_json = ?, flagged = ?,"
        " owner = NULL, lease_until = NULL, wake_at = NULL, updated_at = ?"
        " WHERE run_id = ? RETURNING parent_run",
        (
            status.value,
            dumps(result),
            None if error is None else dumps(error),
            int(flagged),
            now_us(),
            run_id,
        ),
    )
    if row and row[0]:
        wake(tx, row[0])


def wake(tx: Tx, run_id: str) -> None:
    """Make a waiting run runnable now (the child it waits for ended)."""
    tx.execute(
        "UPDATE workflow_runs SET status = 'pending', wake_at = NULL, updated_at = ?"
        " WHERE run_id = ? AND status = 'waiting'",
        (now_us(), run_id),
    )


def _wake_for_signal(tx: Tx, run_id: str, name: str) -> None:
    """Wake the run only if it waits for this signal: any other signal stays queued for a
    later ``wait_for_signal`` and must not make a parked run spin."""
    tx.execute(
        "UPDATE workflow_runs SET status = 'pending', wake_at = NULL, updated_at = ?"
        " WHERE run_id = ? AND status = 'waiting' AND EXISTS (SELECT 1 FROM workflow_steps"
        " WHERE run_id = ? AND kind = 'signal' AND name = ? AND status = 'waiting')",
        (now_us(), run_id, run_id, name),
    )


def suspend(tx: Tx, run_id: str, status: Status, wake_at: int | None, child: str | None) -> None:
    """Park a run without holding memory; it is claimed again at ``wake_at`` or when woken.

    The wake-up sources are checked after the row is updated (and locked), so a signal,
    a child that ended or a cancel that came while the run was deciding to wait is never
    missed."""
    row = tx.one(
        "UPDATE workflow_runs SET status = ?, wake_at = ?, owner = NULL, lease_until = NULL,"
        " updated_at = ? WHERE run_id = ? RETURNING cancel_requested",
        (status.value, wake_at, now_us(), run_id),
    )
    if row is not None and row[0]:
        _resume(tx, [run_id])
        return
    if status is not Status.WAITING:
        return
    signal = tx.one(
        "SELECT 1 FROM workflow_signals s JOIN workflow_steps w"
        " ON w.run_id = s.run_id AND w.name = s.name AND w.kind = 'signal'"
        " WHERE s.run_id = ? AND s.consumed_at IS NULL AND w.status = 'waiting' LIMIT 1",
        (run_id,),
    )
    ended = child and tx.one(
        "SELECT 1 FROM workflow_runs WHERE run_id = ? AND status IN (?, ?, ?, ?)",
        (child, *[s.value for s in TERMINAL]),
    )
    if signal or ended:
        wake(tx, run_id)


def request_cancel(tx: Tx, run_id: str) -> list[str]:
    """Ask a run and its live descendants to stop; returns their ids.

    Parked runs are made runnable at once, so a cancel does not wait for a timer; a failed
    run is reopened so that the compensations it has not completed run (its failed step
    is not run again)."""
    ids, frontier = [], [run_id]
    while frontier:
        current = frontier.pop()
        ids.append(current)
        rows = tx.execute(
            f"SELECT run_id FROM workflow_runs WHERE parent_run = ?"
            f" AND status IN ({','.join('?' * len(LIVE))})",
            (current, *LIVE),
        )
        frontier.extend(r[0] for r in rows)
    tx.executemany(
        "UPDATE workflow_runs SET cancel_requested = 1 WHERE run_id = ?", [(i,) for i in ids]
    )
    tx.execute(
        "UPDATE workflow_runs SET flagged = 0, error_json = NULL, owner = NULL,"
        " lease_until = NULL WHERE run_id = ? AND status = 'failed'",
        (run_id,),
    )
    _resume(tx, ids, also=("failed",))
    return ids


def _resume(tx: Tx, run_ids: Sequence[str], also: tuple[str, ...] = ()) -> None:
    """Make parked runs (and runs in ``also`` states) runnable now."""
    states = ("sleeping", "waiting", *also)
    marks = ",".join("?" * len(states))
    tx.executemany(
        "UPDATE workflow_runs SET status = 'pending', wake_at = NULL, updated_at = ?"
        f" WHERE run_id = ? AND status IN ({marks})",
        [(now_us(), run_id, *states) for run_id in run_ids],
    )


def claim(tx: Tx, owner: str, lease_until: int, limit: int) -> list[Run]:
    """Take up to ``limit`` runnable runs: pending, due, or abandoned by a dead worker."""
    stamp = now_us()
    marks = ",".join("?" * len(LIVE))
    rows = tx.execute(
        f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE status IN ({marks})"
        " AND (lease_until IS NULL OR lease_until < ?)"
        " AND (status = 'pending' OR status = 'running' OR (wake_at IS NOT NULL AND wake_at <= ?))"
        " ORDER BY updated_at LIMIT ?" + tx.dialect.skip_locked,
        (*LIVE, stamp, stamp, limit),
    )
    runs = [_run(r) for r in rows]
    tx.executemany(
        "UPDATE workflow_runs SET status = 'running', owner = ?, lease_until = ?, updated_at = ?"
        " WHERE run_id = ?",
        [(owner, lease_until, stamp, run.run_id) for run in runs],
    )
    return runs


def renew(tx: Tx, owner: str, run_ids: Sequence[str], lease_until: int) -> set[str]:
    """Extend this worker's leases on ``run_ids``; returns those asked to cancel."""
    tx.executemany(
        "UPDATE workflow_runs SET lease_until = ? WHERE run_id = ? AND owner = ?"
        " AND status = 'running'",
        [(lease_until, run_id, owner) for run_id in run_ids],
    )
    rows = tx.execute(
        "SELECT run_id FROM workflow_runs WHERE owner = ? AND status = 'running'"
        " AND cancel_requested = 1",
        (owner,),
    )
    return {r[0] for r in rows}


def add_signal(tx: Tx, run_id: str, name: str, payload: Any) -> None:
    tx.execute(
        "INSERT INTO workflow_signals (run_id, name, payload_json, created_at) VALUES (?, ?, ?, ?)",
        (run_id, name, dumps(payload), now_us()),
    )
    _wake_for_signal(tx, run_id, name)


def take_signal(tx: Tx, run_id: str, name: str) -> tuple[bool, Any]:
    """Consume the oldest unconsumed signal ``name`` of the run: (found, payload)."""
    row = tx.one(
        "SELECT id, payload_json FROM workflow_signals WHERE run_id = ? AND name = ?"
        " AND consumed_at IS NULL ORDER BY id LIMIT 1",
        (run_id, name),
    )
    if row is None:
        return False, None
    tx.execute("UPDATE workflow_signals SET consumed_at = ? WHERE id = ?", (now_us(), row[0]))
    return True, loads(row[1])


def take_or_wait(
    tx: Tx, run_id: str, position: int, name: str, deadline: int | None, first: bool
) -> tuple[str, Any]:
    """Consume the awaited signal, or time out, or record the wait (the record is what a
    signal sent later looks for to wake the run): ``(outcome, payload)``."""
    found, payload = take_signal(tx, run_id, name)
    if found:
        step = StepRecord.instant(position, "signal", name, "completed", {"payload": payload})
        record_step(tx, run_id, step)
        return "signal", payload
    if deadline is not None and now_us() >= deadline:
        step = StepRecord.instant(position, "signal", name, "timed_out", {"deadline": deadline})
        record_step(tx, run_id, step)
        return "timed_out", None
    if first:
        step = StepRecord.instant(position, "signal", name, "waiting", {"deadline": deadline})
        record_step(tx, run_id, step)
    return "waiting", None


def add_patch(tx: Tx, run_id: str, patches: Sequence[str]) -> None:
    tx.execute(
        "UPDATE workflow_runs SET patches_json = ? WHERE run_id = ?", (dumps(list(patches)), run_id)
    )
