"""``artery topics``: create, list and describe topics of the event log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from artery.cli._shared import fits_store, out, reported, run
from artery.durations import seconds
from artery.log import Retention
from artery.runtime import Runtime

app = typer.Typer(help="Topics: partitions, offsets, retention.", no_args_is_help=True)


def duration_text(value: float) -> str:
    """The largest whole unit: 604800 -> 7d, 5400 -> 90m, 1.5 -> 1.5s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def retention_text(retention: Retention) -> str:
    parts = []
    if retention.max_age is not None:
        parts.append(f"age {duration_text(retention.max_age)}")
    if retention.max_count is not None:
        parts.append(f"count {retention.max_count}")
    return ", ".join(parts) or "unbounded"


@app.command()
def create(
    ctx: typer.Context,
    name: str,
    contract: Annotated[str, typer.Option(help="subject of the contract the topic carries")],
    partitions: Annotated[
        int | None, typer.Option(callback=fits_store, help="default: settings.partitions")
    ] = None,
    retention_age: Annotated[str | None, typer.Option(help="e.g. 7d, 12h")] = None,
    retention_count: Annotated[
        int | None, typer.Option(callback=fits_store, help="events kept per partition")
    ] = None,
) -> None:
    """Create NAME bound to a registered contract (idempotent with the same settings)."""
    with reported():
        age = seconds(retention_age) if retention_age is not None else None
        retention = Retention(age, retention_count)

    async def work(rt: Runtime) -> None:
        topic = await rt.log.create_topic(
            name,
            contract,
            partitions=rt.settings.partitions if partitions is None else partitions,
            retention=retention,
        )
        out.print(
            f"topic {topic.name}: contract {topic.subject}, {topic.partitions} partitions,"
            f" retention {retention_text(topic.retention)}",
            markup=False,
        )

    run(ctx, work)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every topic with its contract, partition count and retention."""

    async def work(rt: Runtime) -> None:
        table = Table("topic", "contract", "partitions", "retention")
        for topic in await rt.log.topics():
            table.add_row(
                topic.name, topic.subject, str(topic.partitions), retention_text(topic.retention)
            )
        out.print(table)

    run(ctx, work)


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Partitions (low and next offsets) and the groups reading NAME (committed, lag)."""

    async def work(rt: Runtime) -> None:
        topic = await rt.log.topic(name)
        out.print(
            f"topic {topic.name}: contract {topic.subject},"
            f" retention {retention_text(topic.retention)}",
            markup=False,
        )
        parts = Table("partition", "low", "next", "events", title="partitions")
        for state in await rt.log.partitions(topic.name):
            count = str(state.next - state.low)
            parts.add_row(str(state.partition), str(state.low), str(state.next), count)
        out.print(parts)
        groups = Table("group", "partition", "committed", "next", "lag", title="groups")
        for pos in await rt.log.positions():
            if pos.topic == topic.name:
                groups.add_row(
                    pos.group, str(pos.partition), str(pos.committed), str(pos.next), str(pos.lag)
                )
        out.print(groups if groups.row_count else "groups: none")

    run(ctx, work)
