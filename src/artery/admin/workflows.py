"""Admin routes for durable workflows: list, show, start, signal, cancel, retry.

Listings never carry inputs or results. A run's detail shows its input with every field
the workflow's input contract classifies ``pii`` or ``secret`` redacted, and those values
scrubbed out of its results and errors (input and results hidden whole when this process
does not declare the workflow, since nothing is then known safe); ``artery workflows show``
uses the same ``run_redactor``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from artery.admin.delivery import _flag, _limit, json_object, json_value
from artery.admin.scoped import Scoped, actor
from artery.contracts import Registry
from artery.errors import ConfigError, ContractViolation
from artery.gateway.policy import ADMIN_READ, ADMIN_WRITE
from artery.gateway.problems import TYPE_BASE, ProblemResponse, title_of
from artery.govern import Redactor, contract_redactor
from artery.observe import interventions
from artery.workflows import Run, RunDetail, StepRecord, Workflow, Workflows

if TYPE_CHECKING:
    from artery.integration import Declarations
    from artery.runtime import Runtime

_LIST_QUERY = ("workflow", "status", "flagged", "integration", "limit")
_START_FIELDS = ("workflow", "input", "id")


# -- shapes ---------------------------------------------------------------------------------


def _seconds(micros: int) -> float | None:
    return micros / 1_000_000 if micros else None


def run_summary(run: Run) -> dict[str, Any]:
    """A listing row: no input or result, since they may hold classified fields."""
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "integration": run.integration,
        "status": run.status.value,
        "flagged": run.flagged,
        "started_by": run.started_by,
        "parent_run": run.parent_run,
        "created_at": _seconds(run.created_at),
        "updated_at": _seconds(run.updated_at),
    }


def step_detail(step: StepRecord, redactor: Redactor) -> dict[str, Any]:
    """One recorded step or compensation; times in seconds since the epoch."""
    started, finished = _seconds(step.started_at), _seconds(step.finished_at)
    duration = (
        (step.finished_at - step.started_at) / 1_000_000
        if step.started_at and step.finished_at
        else None
    )
    return {
        "position": step.position,
        "kind": step.kind,
        "name": step.name,
        "status": step.status,
        "attempts": step.attempts,
        "started_at": started,
        "finished_at": finished,
        "duration": duration,
        "result": redactor.value(step.result),
        "error": redactor.error(step.error),
    }


async def run_redactor(registry: Registry, run: Run, declared: Workflow | None) -> Redactor:
    """What to hide of ``run``: its input contract's classified fields, and their values
    wherever they reappear (results, errors). ``declared`` is the workflow as this process
    declares it; None means its contract is unknown here."""
    subject = None if declared is None else declared.input_subject
    return await contract_redactor(registry, subject, run.input, known=declared is not None)


async def run_detail(
    registry: Registry, detail: RunDetail, declared: Workflow | None
) -> dict[str, Any]:
    """The run (with input, result, error), its steps and its compensations, redacted by
    ``run_redactor``."""
    run = detail.run
    redactor = await run_redactor(registry, run, declared)
    shown: Any = None
    replaced: list[str] = []
    if run.input is not None:
        shown, replaced = redactor.payload(run.input)
    return {
        "run": {
            **run_summary(run),
            "cancel_requested": run.cancel_requested,
            "wake_at": None if run.wake_at is None else _seconds(run.wake_at),
            "input": shown,
            "result": redactor.value(run.result),
            "error": redactor.error(run.error),
        },
        "steps": [step_detail(step, redactor) for step in detail.steps],
        "compensations": [step_detail(step, redactor) for step in detail.compensations],
        "redacted": replaced,
    }


# -- request parsing -----------------------------------------------------------------------


def _list_query(request: Request) -> dict[str, Any]:
    query = request.query_params
    unknown = sorted(set(query) - set(_LIST_QUERY))
    if unknown:
        raise ConfigError(
            f"unknown query parameter(s) {', '.join(unknown)}",
            fix=f"use {', '.join(sorted(_LIST_QUERY))}",
        )
    flagged = query.get("flagged")
    return {
        "workflow": query.get("workflow") or None,
        "status": query.get("status") or None,
        "integration": query.get("integration") or None,
        "flagged": None if flagged is None or flagged == "" else _flag("flagged", flagged),
        "limit": _limit(query.get("limit")),
    }


def _start_body(body: dict[str, Any]) -> tuple[str, Any, str | None]:
    unknown = sorted(set(body) - set(_START_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)} in the request body",
            fix=f"use {', '.join(_START_FIELDS)}",
        )
    name = body.get("workflow")
    if not isinstance(name, str) or not name:
        raise ConfigError(
            "field workflow must be the name of a declared workflow",
            fix='e.g. {"workflow": "refund", "input": {...}}',
        )
    run_id = body.get("id")
    if run_id is not None and (not isinstance(run_id, str) or not run_id):
        raise ConfigError("field id must be a non-empty string", fix='e.g. "id": "refund-42"')
    return name, body.get("input"), run_id


async def _no_fields(request: Request, action: str) -> None:
    body = await json_object(request)
    if body:
        raise ConfigError(
            f"{action} takes no fields; got {', '.join(sorted(body))}",
            fix="send an empty body or {}",
        )


def violation_problem(exc: ContractViolation) -> ProblemResponse:
    """422 problem+json listing every violation (pointer, keyword, message)."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + exc.code,
        "title": title_of(type(exc)),
        "status": exc.http_status,
        "detail": exc.message,
        "fix": exc.fix,
        "subject": exc.subject,
        "version": exc.version,
        "violations": [
            {"pointer": v.pointer, "keyword": v.keyword, "message": v.message}
            for v in exc.violations
        ],
    }
    return ProblemResponse(body, status_code=exc.http_status)


# -- routes --------------------------------------------------------------------------------


def routes(runtime: Runtime, declarations: Declarations, runs: Workflows) -> list[Scoped]:
    """The workflow routes, relative to the admin mount (``/admin``).

    Run ids may contain ``/`` (child runs are ``PARENT/POSITION``), so the id is a path
    segment of its own kind; the action routes come first."""

    async def list_runs(request: Request) -> JSONResponse:
        found = await runs.list(**_list_query(request))
        return JSONResponse([run_summary(run) for run in found])

    async def show(request: Request) -> JSONResponse:
        detail = await runs.show(request.path_params["run_id"])
        declared = declarations.workflows.get(detail.run.workflow)
        return JSONResponse(await run_detail(runtime.registry, detail, declared))

    async def start(request: Request) -> Response:
        name, input, run_id = _start_body(await json_object(request))
        try:
            handle = await runs.start(name, input, id=run_id, started_by="admin")
        except ContractViolation as exc:
            return violation_problem(exc)
        return JSONResponse(
            {"run_id": handle.run_id},
            status_code=201,
            headers={"location": f"{request.url.path.rstrip('/')}/{handle.run_id}"},
        )

    async def signal(request: Request) -> JSONResponse:
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        payload = await json_value(request, None, "send the signal payload as JSON")
        await runs.signal(
            run_id, name, payload, record=interventions.signalled(actor(request), name)
        )
        return JSONResponse({"run_id": run_id, "signal": name}, status_code=202)

    async def cancel(request: Request) -> JSONResponse:
        await _no_fields(request, "cancel")
        run_id = request.path_params["run_id"]
        await runs.cancel(run_id)
        return JSONResponse({"run_id": run_id, "cancel_requested": True}, status_code=202)

    async def retry(request: Request) -> JSONResponse:
        await _no_fields(request, "retry")
        run_id = request.path_params["run_id"]
        await runs.retry(run_id)
        return JSONResponse({"run_id": run_id, "status": "pending"}, status_code=202)

    return [
        Scoped("/workflows/runs", list_runs, ("GET",), ADMIN_READ),
        Scoped("/workflows/runs", start, ("POST",), ADMIN_WRITE),
        Scoped("/workflows/runs/{run_id:path}/signals/{name}", signal, ("POST",), ADMIN_WRITE),
        Scoped("/workflows/runs/{run_id:path}/cancel", cancel, ("POST",), ADMIN_WRITE),
        Scoped("/workflows/runs/{run_id:path}/retry", retry, ("POST",), ADMIN_WRITE),
        Scoped("/workflows/runs/{run_id:path}", show, ("GET",), ADMIN_READ),
    ]
