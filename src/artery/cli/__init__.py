"""The ``artery`` command line.

Every command opens the store named by ``--store`` (else ``ARTERY_STORE``, else
``artery.toml``, else ``sqlite:///artery.db``), does one thing, and exits with a status a
script can rely on: 0 done, 1 refused (contract violation, incompatibility, failed check),
2 unusable input (bad arguments, files, JSON, unknown names), 3 store unavailable.
"""

from __future__ import annotations

from typing import Annotated

import typer

from artery import __version__
from artery.cli import (
    contracts,
    delivery,
    destinations,
    doctor,
    events,
    groups,
    integrations,
    keys,
    report,
    serving,
    slo,
    sources,
    status,
    topics,
    workflows,
)
from artery.cli._shared import CliState

app = typer.Typer(
    name="artery",
    help="Artery: contracts, an event log with replay, delivery and workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(contracts.app, name="contracts")
app.add_typer(topics.app, name="topics")
app.add_typer(groups.app, name="groups")
app.command()(events.publish)
app.command()(events.tail)
app.command()(doctor.doctor)
app.command("run")(serving.run_app)
app.command()(serving.worker)
app.command()(serving.gateway)
app.add_typer(delivery.dlq, name="dlq")
app.command()(delivery.replay)
app.command()(delivery.breakers)
app.add_typer(workflows.app, name="workflows")
app.add_typer(integrations.app, name="integrations")
app.add_typer(keys.app, name="keys")
app.add_typer(sources.app, name="sources")
app.add_typer(destinations.app, name="destinations")
app.add_typer(slo.app, name="slo")
app.command()(report.report)
app.command("status")(status.status_command)


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"artery {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=print_version,
            is_eager=True,
            help="print the installed Artery version and exit",
        ),
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(
            help="store URL (default: ARTERY_STORE, artery.toml, sqlite:///artery.db)",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(store=store)


def main() -> None:
    app()


__all__ = ["app", "main"]
