"""``artery slo rules|status MODULE:APP``: the app's SLOs for Prometheus and for people.

``rules`` prints the Prometheus rules file (recording rules per window, page and ticket
burn-rate alerts) from the declarations alone; no store is opened. ``status`` reads the
runtime's records: events and bad events over each SLO's window, budget left, burn
rates, and the alert firing. It exits 1 while an alert fires, so cron or a probe can act
on it; 0 otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.errors import ConfigError
from artery.integration import Declarations
from artery.observe.slo import WINDOWS, SloStatus, duration, statuses
from artery.observe.slo_rules import rules_yaml

app = typer.Typer(
    help="SLOs: Prometheus rules, error budgets and burn rates.", no_args_is_help=True
)

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]


def declared_slos(declared: Declarations) -> Declarations:
    """``declared``, refused when it has no SLO: rules or a status of nothing help no one."""
    if not declared.slos:
        raise ConfigError(
            "the app declares no SLO",
            fix='declare one on an integration: erp.slo(success=0.999, sync_within="5m")',
        )
    return declared


@app.command()
def rules(ctx: typer.Context, target: Target) -> None:
    """Print the Prometheus rules file of the app's SLOs (for rule_files)."""
    with reported():
        declared = declared_slos(loaded(ctx, target).declared)
    runbooks = {name: i.runbook for name, i in declared.integrations.items()}
    typer.echo(rules_yaml(declared.slos.values(), runbooks), nl=False)


@app.command()
def status(ctx: typer.Context, target: Target, as_json: AsJson = False) -> None:
    """Each SLO's budget left, burn rates and firing alert; exits 1 while one fires."""
    with reported():
        artery_app = loaded(ctx, target)
        declared = declared_slos(artery_app.declared)

        async def read() -> list[SloStatus]:
            async with artery_app.running(None):
                runtime = artery_app.runtime
                return await statuses(runtime.store, declared.slos.values(), runtime.clock.now())

        found = asyncio.run(read())
    if as_json:
        runbooks = {name: i.runbook for name, i in declared.integrations.items()}
        described = [s.describe(runbooks.get(s.slo.integration)) for s in found]
        typer.echo(dumps({"slos": described}, indent=True))
    else:
        _render(found)
    raise typer.Exit(1 if any(s.alert for s in found) else 0)


def _render(found: list[SloStatus]) -> None:
    table = Table(
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        caption="5m..3d: the burn rate over that window (at 1 the budget lasts the window)",
    )
    table.add_column("integration", no_wrap=True)
    table.add_column("objective", no_wrap=True)
    for name in ("events", "bad", "budget", *(w.name for w in WINDOWS)):
        table.add_column(name, justify="right")
    table.add_column("alert", min_width=6)
    for entry in found:
        slo, rates = entry.slo, entry.burn_rates
        within = "" if slo.sync_within is None else f" in {duration(slo.sync_within)}"
        table.add_row(
            slo.integration,
            f"{slo.success * 100:g}%{within} / {duration(slo.window)}",
            str(entry.window.events),
            str(entry.window.bad),
            f"{entry.budget_remaining:.1%}",
            *(f"{rates[w.name]:.1f}" for w in WINDOWS),
            entry.alert.upper() if entry.alert else "-",
        )
    out.print(table)
