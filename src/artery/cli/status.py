"""``artery status MODULE:APP``: one screen per integration (throughput, backlog and its
oldest age, failures, dead letters, SLO budget, silent sources, disabled destinations),
the event types nobody consumes, every process's failing loops, and what needs a person.

Exits 1 when something needs a person, so it can run from cron or as a probe; 0 when
nothing does. Reads the store only: it works beside running processes, or with none.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.observe.status import Status, status

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]


def status_command(ctx: typer.Context, target: Target, as_json: AsJson = False) -> None:
    """Each integration's health; exits 1 when something needs a person."""
    with reported():
        artery_app = loaded(ctx, target)

        async def read() -> Status:
            async with artery_app.running(None):
                return await status(artery_app.runtime, artery_app.declared)

        found = asyncio.run(read())
    if as_json:
        typer.echo(dumps(found.as_json(), indent=True))
    else:
        _render(found)
    raise typer.Exit(1 if found.attention else 0)


def _render(found: Status) -> None:
    table = Table("integration", "per min (5m / 1h)", "failed 1h", "dead letters")
    for column in ("backlog (oldest)", "SLO budget", "silent", "disabled"):
        table.add_column(column)
    for entry in found.integrations:
        slo = entry.get("slo")
        budget = "-" if slo is None else f"{slo['budget_remaining']:.0%} {slo['alert'] or ''}"
        behind = ", ".join(
            f"{b['group']} {b['events']} ({b['oldest_s']:.0f}s)" for b in entry["backlog"]
        )
        table.add_row(
            entry["name"],
            f"{entry['delivered_per_min_5m']:g} / {entry['delivered_per_min_1h']:g}",
            str(entry["failed_attempts_1h"]),
            str(entry["dead_letters_waiting"]),
            behind or "-",
            budget.strip(),
            ", ".join(entry["silent_sources"]) or "-",
            ", ".join(entry["disabled_destinations"]) or "-",
        )
    out.print(table)
    if found.unconsumed:
        out.print("event types nobody consumes: " + ", ".join(found.unconsumed))
    processes = Table("process", "role", "seen", "failing loops")
    for p in found.processes:
        failing = ", ".join(f["loop"] for f in p["failing"]) or "-"
        seen = f"{p['seen_s_ago']:.0f}s ago" + (" (stale)" if p["stale"] else "")
        processes.add_row(p["process"], p["role"], seen, failing)
    if found.processes:
        out.print(processes)
    if found.attention:
        out.print("[bold red]needs attention:[/]")
        for line in found.attention:
            out.print(f"  - {line}")
    else:
        out.print("[green]nothing needs attention[/]")
