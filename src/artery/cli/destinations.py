"""``artery destinations list|create|update|delete|disable|enable MODULE:APP``: webhook
destinations, from the store: each one's state (enabled, failing since, disabled and why),
destinations made, changed and removed at run time, and switching one off and on."""

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
from artery.govern import audit
from artery.observe.interventions import cli_actor
from artery.webhooks.outbound import Outbound

app = typer.Typer(
    help="Webhook destinations: state, attempts, disable, enable.", no_args_is_help=True
)

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="the destination's name")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]
T = TypeVar("T")


def _with_outbound(
    ctx: typer.Context,
    target: str,
    work: Callable[[Outbound], Awaitable[T]],
    *,
    any_app: bool = False,
) -> T:
    artery_app: App = loaded(ctx, target)
    destinations = list(artery_app.declared.destinations.values())
    if not destinations and not any_app:
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

    with reported():
        found = _registry_run(ctx, target, lambda r: r.outbound.described())
    if as_json:
        typer.echo(dumps(found, indent=True))
        return
    table = Table("destination", "url", "events", "state")
    for entry in found:
        state = "enabled" if entry["enabled"] else f"DISABLED: {entry['disabled_reason']}"
        if entry["enabled"] and entry["failing_since"]:
            state = "enabled, failing"
        table.add_row(entry["name"], entry["url"], ", ".join(entry["events"]), state)
    out.print(table)


@app.command()
def disable(ctx: typer.Context, target: Target, name: Name) -> None:
    """Stop delivering to NAME (its events are skipped, and recorded so)."""

    async def work(o: Outbound) -> bool:
        changed = await o.disable(name, f"disabled by {cli_actor()} (CLI)")
        await _audited(o, "disable", name, None if changed else "was already disabled")
        return changed

    with reported():
        changed = _with_outbound(ctx, target, work)
    out.print(f"{name}: {'disabled' if changed else 'already disabled'}", markup=False)


@app.command()
def enable(ctx: typer.Context, target: Target, name: Name) -> None:
    """Deliver to NAME again (a failing streak starts over)."""

    async def work(o: Outbound) -> None:
        await o.enable(name)
        await _audited(o, "enable", name)

    with reported():
        _with_outbound(ctx, target, work)
    out.print(f"{name}: enabled", markup=False)


Url = Annotated[str, typer.Option(help="https URL the events are posted to")]
Events = Annotated[list[str], typer.Option("--event", help="event type (wildcards); repeatable")]
Secret = Annotated[str, typer.Option(help="the signing secret's name (ARTERY_SECRET_<NAME>)")]
Filter = Annotated[str | None, typer.Option(help="JMESPath the payload must satisfy")]
RateLimit = Annotated[str | None, typer.Option("--rate-limit", help="e.g. 20/s")]
Ordered = Annotated[bool, typer.Option(help="deliver each key's events in order")]


def _spec(
    url: str, event: list[str], secret: str, filter: str | None, rate: str | None, ordered: bool
) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "events": event, "secret": secret, "ordered": ordered}
    if filter is not None:
        spec["filter"] = filter
    if rate is not None:
        spec["rate_limit"] = rate
    return spec


async def _audited(o: Outbound, action: str, name: str, detail: str | None = None) -> None:
    """The audit entry of an operator's change to destination ``name``."""
    integration = o.destinations[name].integration if name in o.destinations else None
    entry = audit.Entry(cli_actor(), "cli", action, name, integration, detail)
    await audit.record(o.runtime.store, entry)


async def _changed(registry: Any, change: Awaitable[Any], action: str, name: str) -> None:
    """``change`` made, then audited (a run-time destination belongs to no integration)."""
    await change
    await _audited(registry.outbound, action, name)


def _registry_run(ctx: typer.Context, target: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from artery.webhooks.registry import RunTimeDestinations

    async def with_registry(outbound: Outbound) -> T:
        registry = RunTimeDestinations(outbound)
        registry.attach(outbound.runtime)
        await registry.sync()  # the run-time destinations, besides those in code
        return await work(registry)

    return _with_outbound(ctx, target, with_registry, any_app=True)


@app.command()
def create(
    ctx: typer.Context,
    target: Target,
    name: Name,
    url: Url,
    event: Events,
    secret: Secret,
    filter: Filter = None,
    rate_limit: RateLimit = None,
    ordered: Ordered = False,
) -> None:
    """Make a destination at run time (every process applies it within a second)."""
    spec = _spec(url, event, secret, filter, rate_limit, ordered)
    with reported():
        _registry_run(ctx, target, lambda r: _changed(r, r.create(name, spec), "create", name))
    out.print(f"{name}: created", markup=False)


@app.command()
def update(
    ctx: typer.Context,
    target: Target,
    name: Name,
    url: Url,
    event: Events,
    secret: Secret,
    filter: Filter = None,
    rate_limit: RateLimit = None,
    ordered: Ordered = False,
) -> None:
    """Replace a run-time destination's settings."""
    spec = _spec(url, event, secret, filter, rate_limit, ordered)
    with reported():
        _registry_run(ctx, target, lambda r: _changed(r, r.replace(name, spec), "update", name))
    out.print(f"{name}: updated", markup=False)


@app.command()
def delete(ctx: typer.Context, target: Target, name: Name) -> None:
    """Remove a run-time destination (its attempts stay on record)."""
    with reported():
        _registry_run(ctx, target, lambda r: _changed(r, r.delete(name), "delete", name))
    out.print(f"{name}: deleted", markup=False)
