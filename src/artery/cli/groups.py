"""``artery groups``: consumer-group positions, and moving them to replay or skip."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from artery.cli._shared import fits_store, out, reported, run
from artery.clock import parse_instant
from artery.runtime import Runtime

app = typer.Typer(help="Consumer groups: positions, lag, replay.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every group's committed position and lag, per topic partition."""

    async def work(rt: Runtime) -> None:
        table = Table("group", "topic", "partition", "committed", "next", "lag")
        for pos in await rt.log.positions():
            table.add_row(
                pos.group,
                pos.topic,
                str(pos.partition),
                str(pos.committed),
                str(pos.next),
                str(pos.lag),
            )
        out.print(table)

    run(ctx, work)


@app.command()
def reset(
    ctx: typer.Context,
    group: str,
    topic: str,
    to_offset: Annotated[
        int | None, typer.Option(callback=fits_store, help="offset on every partition")
    ] = None,
    to_time: Annotated[
        str | None, typer.Option(help="first event appended at or after this ISO 8601 time")
    ] = None,
    to: Annotated[str | None, typer.Option(help="earliest or latest")] = None,
    create: Annotated[
        bool, typer.Option("--create", help="start GROUP here if it has no position yet")
    ] = False,
) -> None:
    """Move GROUP's position on TOPIC (every partition): replay from it, or skip to it."""
    with reported():
        instant = parse_instant(to_time, "--to-time") if to_time is not None else None

    async def work(rt: Runtime) -> None:
        offsets = await rt.log.reset(
            group, topic, to_offset=to_offset, to_time=instant, to=to, create=create
        )
        table = Table("partition", "next offset", title=f"{group} on {topic}")
        for partition, offset in sorted(offsets.items()):
            table.add_row(str(partition), str(offset))
        out.print(table)

    run(ctx, work)
