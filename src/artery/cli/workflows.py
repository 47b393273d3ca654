"""Operating durable workflows (``artery workflows``): list, show, start, signal, cancel,
retry.

Everything but ``start`` needs only the store: runs are rows, and whichever worker holds a
run sees a signal, a cancel or a retry on its next look. ``start`` imports the app
(``MODULE:APP``) to know its workflows and their input contracts, records the run and
prints its id; a running worker of that app executes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from artery.admin.workflows import run_detail, run_redactor, run_summary
from artery.cli._shared import dumps, fits_store, json_argument, out, reported, run
from artery.cli.delivery import when
from artery.cli.serving import loaded
from artery.errors import UnknownWorkflow
from artery.govern import Redactor, audit
from artery.observe.interventions import cli_actor, signalled
from artery.runtime import Runtime
from artery.store import Tx
from artery.workflows import Run, RunDetail, StepRecord, Workflows

app = typer.Typer(
    help="Durable workflow runs: list, show, start, signal, cancel, retry.",
    no_args_is_help=True,
)

RunArg = Annotated[str, typer.Argument(metavar="RUN", help="run id")]
SUMMARY = 60  # characters of a result or error shown in a table cell


def operations(rt: Runtime) -> Workflows:
    """Store-only operations: no workflow is declared here, so none can be started (``start``
    loads the app to do that)."""
    return Workflows({}, rt, None)


def micros(value: int) -> str:
    return when(value / 1_000_000 if value else None)


def duration(step: StepRecord) -> str:
    if not step.started_at or not step.finished_at:
        return "-"
    elapsed = (step.finished_at - step.started_at) / 1_000_000
    return f"{elapsed * 1000:.0f}ms" if elapsed < 1 else f"{elapsed:.2f}s"


def clip(text: str, width: int = SUMMARY) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def error_summary(error: dict[str, Any] | None, width: int = SUMMARY) -> str:
    if not error:
        return "-"
    return clip(f"{error.get('type')}: {error.get('message')}", width)


def outcome(step: StepRecord) -> str:
    if step.error:
        return error_summary(step.error)
    return "-" if step.result is None else clip(dumps(step.result))


@app.command("list")
def list_(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option(help="only runs of this workflow")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, running, sleeping, waiting, completed, ...")
    ] = None,
    flagged: Annotated[
        bool | None,
        typer.Option("--flagged/--not-flagged", help="only runs that need (or not) attention"),
    ] = None,
    integration: Annotated[
        str | None, typer.Option(help="only runs of workflows this integration declares")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, callback=fits_store, help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Runs, newest first (no inputs or results: see `artery workflows show RUN`). The
    integration of a run started before integrations were recorded shows as -."""

    async def work(rt: Runtime) -> None:
        runs = await operations(rt).list(
            workflow=workflow,
            status=status,
            flagged=flagged,
            integration=integration,
            limit=limit,
        )
        if as_json:
            for found in runs:
                typer.echo(dumps(run_summary(found)))
            return
        if not runs:
            out.print("no workflow runs match")
            return
        table = Table("run", "workflow", "status", "integration", "flagged", "started by")
        table.add_column("parent")
        table.add_column("created")
        table.add_column("updated")
        for found in runs:
            table.add_row(
                found.run_id,
                found.workflow,
                found.status.value,
                found.integration or "-",
                "yes" if found.flagged else "",
                found.started_by,
                found.parent_run or "-",
                micros(found.created_at),
                micros(found.updated_at),
            )
        out.print(table)

    run(ctx, work)


def steps_table(title: str, steps: list[StepRecord]) -> Table:
    table = Table("#", "kind", "name", "status", "attempts", "started", "took", title=title)
    table.add_column("result / error")
    for step in steps:
        table.add_row(
            str(step.position),
            step.kind,
            step.name,
            step.status,
            str(step.attempts),
            micros(step.started_at),
            duration(step),
            Text(outcome(step)),  # a value in [brackets] is data, not markup
        )
    return table


def print_header(found: Run) -> None:
    flag = " (flagged: needs attention)" if found.flagged else ""
    lines = [
        f"run:        {found.run_id}",
        f"workflow:   {found.workflow}",
        f"integration: {found.integration or '-'}",
        f"status:     {found.status.value}{flag}",
        f"started by: {found.started_by}",
        f"created:    {micros(found.created_at)}",
        f"updated:    {micros(found.updated_at)}",
    ]
    if found.parent_run:
        lines.append(f"parent:     {found.parent_run}")
    if found.cancel_requested:
        lines.append("cancel:     requested")
    if found.wake_at:
        lines.append(f"wakes at:   {micros(found.wake_at)}")
    if found.result is not None:
        lines.append(f"result:     {clip(dumps(found.result), 200)}")
    if found.error:
        lines.append(f"error:      {error_summary(found.error, 200)}")
    for line in lines:
        out.print(line, markup=False)


def redacted(detail: RunDetail, redactor: Redactor) -> RunDetail:
    """The detail as a person may see it: results and errors through ``redactor``."""

    def step(record: StepRecord) -> StepRecord:
        return dataclasses.replace(
            record, result=redactor.value(record.result), error=redactor.error(record.error)
        )

    run_ = dataclasses.replace(
        detail.run, result=redactor.value(detail.run.result), error=redactor.error(detail.run.error)
    )
    return RunDetail(run_, [step(s) for s in detail.steps], [step(s) for s in detail.compensations])


def print_detail(detail: RunDetail) -> None:
    print_header(detail.run)
    if detail.steps:
        out.print(steps_table("steps", detail.steps))
    else:
        out.print("no steps recorded yet")
    if detail.compensations:
        out.print(steps_table("compensations", detail.compensations))


@app.command()
def show(
    ctx: typer.Context,
    run_id: RunArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="the full detail as JSON, redacted as below")
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="MODULE:APP",
            help="the app declaring the workflow: redact by its input contract",
        ),
    ] = None,
) -> None:
    """One run: status, every step with timing, attempts and outcome, compensations.

    Fields the workflow's input contract classifies pii or secret are redacted, and their
    values scrubbed out of results and errors. Without --app the contract is unknown, so
    input and results are shown as [redacted] (errors as the engine stored them, already
    scrubbed)."""
    with reported():
        declaring = None if target is None else loaded(ctx, target)

    async def work(rt: Runtime) -> None:
        detail = await operations(rt).show(run_id)
        declared = None
        if declaring is not None:
            declared = declaring.declared.workflows.get(detail.run.workflow)
        if as_json:
            typer.echo(dumps(await run_detail(rt.registry, detail, declared), indent=True))
            return
        print_detail(redacted(detail, await run_redactor(rt.registry, detail.run, declared)))

    run(ctx, work)


@app.command()
def start(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")],
    workflow: Annotated[str, typer.Argument(metavar="WORKFLOW", help="declared workflow name")],
    input_: Annotated[
        str | None, typer.Option("--input", help="input as JSON, or @file to read it")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--id", help="run id (starting the same id again is a no-op)")
    ] = None,
) -> None:
    """Start a run of WORKFLOW and print its id; a running worker of the app executes it."""
    with reported():
        payload = None if input_ is None else json_argument(input_, "--input")
        target_app = loaded(ctx, target)
        if workflow not in target_app.declared.workflows:
            known = ", ".join(sorted(target_app.declared.workflows)) or "none"
            raise UnknownWorkflow(
                f"app {target_app.name!r} declares no workflow named {workflow!r}",
                fix=f"known workflows: {known}",
            )

        async def main() -> str:
            async with target_app.running(None):
                handle = await target_app.workflows.start(
                    workflow, payload, id=run_id, started_by="cli"
                )
                return handle.run_id

        typer.echo(asyncio.run(main()))


@app.command()
def signal(
    ctx: typer.Context,
    run_id: RunArg,
    name: Annotated[str, typer.Argument(metavar="NAME", help="signal name")],
    data: Annotated[
        str | None, typer.Option(help="payload as JSON, or @file to read it (default null)")
    ] = None,
) -> None:
    """Send signal NAME to a live run (kept until the run waits for it)."""
    with reported():
        payload = None if data is None else json_argument(data, "--data")

    note = signalled(cli_actor(), name)

    def record(tx: Tx, found: Run) -> None:  # the note and the audit entry, with the signal
        note(tx, found)
        entry = audit.Entry(
            cli_actor(),
            "cli",
            "signal",
            target=found.run_id,
            integration=found.integration,
            detail=f"signal {name!r}",
        )
        audit.write(tx, entry)

    async def work(rt: Runtime) -> None:
        await operations(rt).signal(run_id, name, payload, record=record)
        out.print(f"sent signal {name!r} to run {run_id!r}", markup=False)

    run(ctx, work)


@app.command()
def cancel(ctx: typer.Context, run_id: RunArg) -> None:
    """Ask a run to stop: it runs its compensations and ends cancelled."""

    async def work(rt: Runtime) -> None:
        await operations(rt).cancel(run_id)
        await audited(rt, "cancel", run_id)
        out.print(f"cancel requested for run {run_id!r}", markup=False)

    run(ctx, work)


@app.command()
def retry(ctx: typer.Context, run_id: RunArg) -> None:
    """Run a failed run again from the step (or compensation) that failed."""

    async def work(rt: Runtime) -> None:
        await operations(rt).retry(run_id)
        await audited(rt, "retry", run_id)
        out.print(f"run {run_id!r} will be retried by the next free worker", markup=False)

    run(ctx, work)


async def audited(rt: Runtime, action: str, run_id: str) -> None:
    """The audit entry of an operator's ``action`` on a run, once it is done."""
    found = await operations(rt).get(run_id)
    entry = audit.Entry(cli_actor(), "cli", action, target=run_id, integration=found.integration)
    await audit.record(rt.store, entry)
