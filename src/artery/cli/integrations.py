"""``artery integrations list|show MODULE:APP``: the inventory of an app's integrations.

Read from the app's declarations (no store is opened): owners, purpose, partners, the
contracts each writes and reads with their owners, the pii/secret fields it touches, and
its consumers and workflows with their retry and dead-letter policies.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.errors import NotFound
from artery.inventory import report, reports

app = typer.Typer(help="The inventory of an app's integrations.", no_args_is_help=True)

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]


@app.command("list")
def list_(ctx: typer.Context, target: Target, as_json: AsJson = False) -> None:
    """Every integration with its owners, purpose and size."""
    with reported():
        found = reports(loaded(ctx, target).declared)
    if as_json:
        typer.echo(dumps(found, indent=True))
        return
    table = Table("integration", "owner", "transport", "purpose", "partners")
    table.add_column("consumers", justify="right")
    table.add_column("workflows", justify="right")
    table.add_column("classified", justify="right")
    for entry in found:
        table.add_row(
            entry["name"],
            entry["owner"] or "NO OWNER",
            entry["transport_owner"] or "-",
            entry["purpose"] or "-",
            ", ".join(entry["partners"]) or "-",
            str(len(entry["consumers"])),
            str(len(entry["workflows"])),
            str(len(entry["classified_fields"])),
        )
    out.print(table)
    if any(entry["owner"] is None for entry in found):
        out.print(
            "an integration without an owner is the app's own: give it one with"
            ' App(..., owner="team-x"), or declare on an Integration',
            markup=False,
        )


@app.command()
def show(
    ctx: typer.Context,
    target: Target,
    name: Annotated[str, typer.Argument(metavar="NAME", help="integration name")],
    as_json: AsJson = False,
) -> None:
    """One integration in full."""
    with reported():
        declared = loaded(ctx, target).declared
        integration = declared.integrations.get(name)
        if integration is None:
            raise NotFound(
                f"no integration named {name!r}",
                fix=f"known: {', '.join(sorted(declared.integrations))}",
            )
    entry = report(declared, integration)
    if as_json:
        typer.echo(dumps(entry, indent=True))
        return
    _print(entry)


def _print(entry: dict[str, Any]) -> None:
    def line(label: str, value: Any) -> None:
        out.print(f"{label:<16}{value if value not in (None, '', []) else '-'}", markup=False)

    line("integration", entry["name"])
    line("owner", entry["owner"] or "NO OWNER")
    line("transport owner", entry["transport_owner"])
    line("purpose", entry["purpose"])
    line("partners", ", ".join(entry["partners"]))
    line("runbook", entry["runbook"])
    for label in ("writes", "reads"):
        for contract in entry[label] or [{}]:
            shown = (
                f"{contract['subject'] or contract['topic']} (owner {contract.get('owner') or '-'})"
                if contract
                else None
            )
            line(label, shown)
    for field in entry["classified_fields"] or [{}]:
        shown = (
            f"{field['subject']} {field['pointer']} [{field['classification']}]" if field else None
        )
        line("classified", shown)
    for consumer in entry["consumers"]:
        retry = consumer["retry"]
        line(
            "consumer",
            f"{consumer['name']} group={consumer['group']} topic={consumer['topic']}"
            f" retry={retry['attempts']}x {retry['base_s']:g}s..{retry['cap_s']:g}s"
            f" ({retry['jitter']} jitter); dead letter {consumer['dead_letter']}",
        )
    for workflow in entry["workflows"]:
        started = f" started on {workflow['started_on']}" if workflow["started_on"] else ""
        line("workflow", f"{workflow['name']}{started}; on failure: {workflow['on_failure']}")
    for schedule in entry["schedules"]:
        when = schedule["cron"] or f"every {schedule['every_s']:g}s"
        line("schedule", f"{schedule['name']} -> {schedule['workflow']} ({when})")
