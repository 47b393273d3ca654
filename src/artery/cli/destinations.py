"""``artery destinations list|attempts|disable|enable MODULE:APP``: the app's webhook
destinations, from the store: state (enabled, failing since, disabled and why) and the
delivery attempts, filtered by outcome and status; switching one off and on again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from artery import App
from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.errors import ConfigError
from artery.webhooks.outbound import Outbound

app = typer.Typer(
    help="Webhook destinations: state, attempts, disable, enable.", no_args_is_help=True
)

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="the destination's name")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]
T = TypeVar("T")


def _with_outbound(ctx: typer.Context, target: str, work: Callable[[Outbound], Awaitable[T]]) -> T:
    artery_app: App = loaded(ctx, target)
    destinations = list(artery_app.declared.destinations.values())
    if not destinations:
        raise ConfigError("the app declares no webhook destination", fix="declare one first")

    async def main() -> T:
        async with artery_app.running(None):

            async def publish(target: Any, data: Any, /, **attrs: Any) -> Any:
                return await artery_app.publish(target, data, **attrs)

            outbound = Outbound(destinations, artery_app.declared.contracts, publish)
            await outbound.start(artery_app.runtime)
            try:
                return await work(outbound)
            finally:
                await outbound.stop()

    return asyncio.run(main())


@app.command("list")
def list_(ctx: typer.Context, target: Target, as_json: AsJson = False) -> None:
    """Each destination with its state."""

    async def states(outbound: Outbound) -> list[dict[str, Any]]:
        found = []
        for name, d in sorted(outbound.destinations.items()):
            row = await outbound.state(name)
            found.append(
                {
                    "name": name,
                    "url": d.url,
                    "events": list(d.events),
                    "enabled": not (row and row[1] is not None),
                    "failing_since_us": row[0] if row else None,
                    "disabled_reason": row[2] if row else None,
                }
            )
        return found

    with reported():
        found = _with_outbound(ctx, target, states)
    if as_json:
        typer.echo(dumps(found, indent=True))
        return
    table = Table("destination", "url", "events", "state")
    for entry in found:
        state = "enabled" if entry["enabled"] else f"DISABLED: {entry['disabled_reason']}"
        if entry["enabled"] and entry["failing_since_us"]:
            state = "enabled, failing"
        table.add_row(entry["name"], entry["url"], ", ".join(entry["events"]), state)
    out.print(table)


@app.command()
def disable(ctx: typer.Context, target: Target, name: Name) -> None:
    """Stop delivering to NAME (its events are skipped, and recorded so)."""
    with reported():
        changed = _with_outbound(
            ctx, target, lambda o: o.disable(name, "disabled by a person (CLI)")
        )
    out.print(f"{name}: {'disabled' if changed else 'already disabled'}", markup=False)


@app.command()
def enable(ctx: typer.Context, target: Target, name: Name) -> None:
    """Deliver to NAME again (a failing streak starts over)."""
    with reported():
        _with_outbound(ctx, target, lambda o: o.enable(name))
    out.print(f"{name}: enabled", markup=False)
