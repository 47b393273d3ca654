"""Console pages for workflow runs: the list, "waiting for me" (runs parked on a person's
decision), one run's history as a timeline, and what an operator does to a run (approve or
reject, cancel, retry).

A run's page is the admin API's ``run_detail`` (input and results redacted by the
workflow's input contract). An approval is a signal sent through ``Workflows.signal``,
with the intervention note and the audit entry in the signal's own transaction; it is only
sent while the run still waits for that signal, so a stale page cannot queue a second
answer for a later wait. Cancel and retry are audited once made.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from artery.admin.workflows import run_detail, run_summary
from artery.console.web import Console, Page, back, int_param, viewer
from artery.errors import ConfigError, Conflict
from artery.gateway.policy import CONSOLE_WRITE
from artery.govern import audit
from artery.observe import interventions
from artery.observe.log_context import trace_id_of
from artery.store import Tx
from artery.workflows import Run, RunDetail, Status
from artery.workflows.history import TERMINAL

PAGE = 100  # rows per page: the list stays fast with many runs
MOST = 1000
DECISIONS = ("approve", "reject")  # the payloads an approval's signal carries

# Runs parked on a signal, with the signal they wait for: one statement, however many.
_AWAITING = (
    "SELECT r.run_id, r.workflow, r.integration, r.created_at, s.name, s.started_at,"
    " s.result_json FROM workflow_runs r JOIN workflow_steps s ON s.run_id = r.run_id"
    " WHERE r.status = 'waiting' AND s.kind = 'signal' AND s.status = 'waiting'"
    " ORDER BY s.started_at, r.run_id LIMIT ?"
)


@dataclass(frozen=True)
class Awaiting:
    """A run waiting for a person: which signal, since when, until when (None: forever);
    times in seconds since the epoch."""

    run_id: str
    workflow: str
    integration: str | None
    started_at: float
    signal: str
    since: float
    deadline: float | None


def awaiting(tx: Tx, limit: int) -> list[Awaiting]:
    """The runs waiting on a signal, longest waiting first."""
    found = []
    for row in tx.execute(_AWAITING, (limit,)):
        recorded = orjson.loads(row[6]) if row[6] else None
        deadline = recorded.get("deadline") if isinstance(recorded, dict) else None
        found.append(
            Awaiting(
                run_id=row[0],
                workflow=row[1],
                integration=row[2],
                started_at=int(row[3]) / 1e6,
                signal=row[4],
                since=int(row[5]) / 1e6,
                deadline=None if deadline is None else int(deadline) / 1e6,
            )
        )
    return found


def awaited_signal(detail: RunDetail) -> str | None:
    """The signal the run is parked on now (None: it waits for none)."""
    if detail.run.status is not Status.WAITING:
        return None
    waiting = [s for s in detail.steps if s.kind == "signal" and s.status == "waiting"]
    return waiting[-1].name if waiting else None


def pages(console: Console) -> list[Page]:
    """Action routes come before the run's page: a run id may contain ``/``."""
    view = RunPages(console)
    return [
        Page("/runs", view.index),
        Page("/runs/waiting", view.waiting),
        Page("/runs/{run_id:path}/signal", view.signal, ("POST",), CONSOLE_WRITE),
        Page("/runs/{run_id:path}/cancel", view.cancel, ("POST",), CONSOLE_WRITE),
        Page("/runs/{run_id:path}/retry", view.retry, ("POST",), CONSOLE_WRITE),
        Page("/runs/{run_id:path}", view.show),
    ]


class RunPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.runs = console.runs

    async def index(self, request: Request) -> Response:
        query = request.query_params
        workflow = (query.get("workflow") or "").strip() or None
        status = (query.get("status") or "").strip() or None
        limit = int_param(request, "limit", PAGE, high=MOST)
        found = await self.runs.list(workflow=workflow, status=status, limit=limit)
        context = {
            "runs": [run_summary(run) for run in found],
            "workflow": workflow or "",
            "status": status or "",
            "workflows": sorted(self.console.declared.workflows),
            "statuses": [s.value for s in Status],
            "more": min(limit + PAGE, MOST) if len(found) == limit < MOST else None,
        }
        return self.console.templates.render(request, "runs.html", context)

    async def waiting(self, request: Request) -> Response:
        found = await self.console.runtime.store.read(lambda tx: awaiting(tx, PAGE))
        return self.console.templates.render(request, "runs_waiting.html", {"waiting": found})

    async def show(self, request: Request) -> Response:
        detail = await self.runs.show(request.path_params["run_id"])
        run = detail.run
        declared = self.console.declared.workflows.get(run.workflow)
        shown = await run_detail(self.console.runtime.registry, detail, declared)
        context = {
            **shown,
            "awaited": awaited_signal(detail),
            "trace_id": trace_id_of(run.traceparent),
            "cancellable": run.status not in TERMINAL or run.status is Status.FAILED,
            "retryable": run.status is Status.FAILED,
        }
        return self.console.templates.render(request, "run.html", context)

    async def signal(self, request: Request) -> Response:
        """Approve or reject: the awaited signal with ``approve`` or ``reject``."""
        run_id = request.path_params["run_id"]
        form = await request.form()
        name, decision = _field(form, "name"), _field(form, "decision")
        if decision not in DECISIONS:
            raise ConfigError(
                f"decision {decision!r} is neither approve nor reject",
                fix="press Approve or Reject on the run's page",
            )
        if awaited_signal(await self.runs.show(run_id)) != name:
            raise Conflict(
                f"run {run_id!r} is not waiting for signal {name!r}",
                fix="reload the run's page: someone may have answered it already",
            )
        noted = interventions.signalled(viewer(request).subject, name)

        def record(tx: Tx, run: Run) -> None:
            noted(tx, run)
            entry = self.console.entry(
                request,
                decision,
                target=run_id,
                integration=run.integration,
                detail=f"signal {name!r}",
            )
            audit.write(tx, entry)

        await self.runs.signal(run_id, name, decision, record=record)
        done = f"Sent {decision} to run {run_id} (signal {name})."
        if form.get("from") == "waiting":
            return back("/runs/waiting", done=done)
        return back(run_path(run_id), done=done)

    async def cancel(self, request: Request) -> Response:
        run = await self.runs.get(request.path_params["run_id"])
        await self.runs.cancel(run.run_id)
        await self.console.audit(request, "cancel", target=run.run_id, integration=run.integration)
        done = "Cancel requested: the run undoes what it did (its compensations), then ends."
        return back(run_path(run.run_id), done=done)

    async def retry(self, request: Request) -> Response:
        run = await self.runs.get(request.path_params["run_id"])
        await self.runs.retry(run.run_id)
        await self.console.audit(request, "retry", target=run.run_id, integration=run.integration)
        return back(run_path(run.run_id), done="Retrying from the step that failed.")


def run_path(run_id: str) -> str:
    """A run's page under the console (its id quoted: it may hold ``/``, ``?`` or ``#``)."""
    return "/runs/" + quote(run_id, safe="/")


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the form's field {name} is missing", fix="use the buttons on the page")
    return value.strip()
