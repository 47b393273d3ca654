"""Operating delivery: dead letters (``artery dlq``), replay and breakers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from artery.admin.delivery import dead_letter_detail
from artery.cli._shared import (
    dumps,
    fits_store,
    out,
    reported,
    run,
)
from artery.clock import parse_instant
from artery.delivery.breaker import Breakers
from artery.delivery.dead_letters import DeadLetter, DeadLetters, Filter
from artery.errors import ConfigError
from artery.govern import audit
from artery.observe.interventions import REPLAY, cli_actor, noted, redriven
from artery.runtime import Runtime
from artery.store import Tx

# -- dead letters --------------------------------------------------------------------------

dlq = typer.Typer(help="Dead letters: list, show, redrive, purge, depth.", no_args_is_help=True)

GroupOpt = Annotated[str | None, typer.Option(help="consumer group")]
ConsumerOpt = Annotated[str | None, typer.Option(help="consumer name")]
IntegrationOpt = Annotated[
    str | None, typer.Option(help="the integration that declared the consumer")
]
TypeOpt = Annotated[str | None, typer.Option("--type", help="event type (contract subject)")]
ErrorOpt = Annotated[
    str | None, typer.Option(help="builtins.ValueError, or ValueError in any module")
]


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dlq.command("list")
def list_(
    ctx: typer.Context,
    group: GroupOpt = None,
    consumer: ConsumerOpt = None,
    integration: IntegrationOpt = None,
    event_type: TypeOpt = None,
    error_type: ErrorOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="include redriven dead letters")] = False,
    limit: Annotated[int, typer.Option(min=1, callback=fits_store, help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Dead letters, oldest first (no payloads: see `artery dlq show ID`). The integration
    of one buried before integrations were recorded shows as -."""
    where = Filter(
        group=group,
        consumer=consumer,
        integration=integration,
        event_type=event_type,
        error_type=error_type,
        include_redriven=all_,
    )

    async def work(rt: Runtime) -> None:
        letters = await DeadLetters(rt.store).list(where, limit)
        if as_json:
            for letter in letters:
                typer.echo(dumps(letter.summary()))
            return
        if not letters:
            out.print("no dead letters match")
            return
        table = Table("id", "group", "consumer", "integration", "type", "attempts", "last error")
        table.add_column("reason")
        table.add_column("created")
        table.add_column("redriven")
        for letter in letters:
            row = letter.summary()
            table.add_row(
                str(row["id"]),
                letter.group,
                letter.consumer,
                letter.integration or "-",
                letter.event.type,
                str(row["attempts"]),
                str(row["last_error"] or "-"),
                letter.reason,
                when(letter.created_at),
                when(letter.redriven_at),
            )
        out.print(table)

    run(ctx, work)


@dlq.command()
def show(
    ctx: typer.Context,
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", callback=fits_store)],
) -> None:
    """One dead letter as JSON: every attempt's error and the event, with fields its
    contract classifies pii or secret redacted."""

    async def work(rt: Runtime) -> None:
        letter = await DeadLetters(rt.store).get(dead_letter_id)
        typer.echo(dumps(await dead_letter_detail(rt.log, letter), indent=True))

    run(ctx, work)


def selection(
    ids: list[int] | None,
    group: str | None,
    consumer: str | None,
    integration: str | None,
    event_type: str | None,
    error_type: str | None,
    include_redriven: bool = False,
) -> Filter:
    return Filter(
        ids=tuple(ids or ()),
        group=group,
        consumer=consumer,
        integration=integration,
        event_type=event_type,
        error_type=error_type,
        include_redriven=include_redriven,
    )


IdsArg = Annotated[
    list[int] | None, typer.Argument(metavar="[ID]...", callback=fits_store, help="dead letter ids")
]


@dlq.command()
def redrive(
    ctx: typer.Context,
    ids: IdsArg = None,
    group: GroupOpt = None,
    consumer: ConsumerOpt = None,
    integration: IntegrationOpt = None,
    event_type: TypeOpt = None,
    error_type: ErrorOpt = None,
) -> None:
    """Run the selected dead letters again, from attempt one, with the consumer's current
    code (whichever worker holds the partition picks them up)."""
    where = selection(ids, group, consumer, integration, event_type, error_type)

    async def work(rt: Runtime) -> None:
        count = await DeadLetters(rt.store).redrive(where, record=audited_redrive(cli_actor()))
        out.print(f"redriven {count} dead letter(s)")

    run(ctx, work)


@dlq.command()
def purge(
    ctx: typer.Context,
    ids: IdsArg = None,
    group: GroupOpt = None,
    consumer: ConsumerOpt = None,
    integration: IntegrationOpt = None,
    event_type: TypeOpt = None,
    error_type: ErrorOpt = None,
    include_redriven: Annotated[
        bool, typer.Option("--include-redriven", help="also delete redriven ones")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: deletion is final")] = False,
) -> None:
    """Delete the selected dead letters for good (needs --yes)."""
    where = selection(ids, group, consumer, integration, event_type, error_type, include_redriven)

    async def work(rt: Runtime) -> None:
        count = await DeadLetters(rt.store).purge(where, confirm=yes)
        if count:
            entry = audit.Entry(
                cli_actor(),
                "cli",
                "purge",
                target=described(where),
                integration=where.integration,
                detail=f"{count} dead letter(s) deleted",
            )
            await audit.record(rt.store, entry)
        out.print(f"purged {count} dead letter(s)")

    run(ctx, work)


def audited_redrive(actor: str) -> Callable[[Tx, Sequence[DeadLetter]], None]:
    """The intervention note of a redrive and its audit entry, both written in the
    redrive's transaction."""
    note = redriven(actor)

    def record(tx: Tx, letters: Sequence[DeadLetter]) -> None:
        note(tx, letters)
        ids = [letter.id for letter in letters]
        shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        integrations = {letter.integration for letter in letters}
        entry = audit.Entry(
            actor,
            "cli",
            "redrive",
            target=f"dead letters {shown}",
            integration=integrations.pop() if len(integrations) == 1 else None,
            detail=f"{len(ids)} dead letter(s)",
        )
        audit.write(tx, entry)

    return record


def described(where: Filter) -> str:
    """A selection as the audit trail shows it: its ids or its filters, never data."""
    if where.ids:
        shown = ", ".join(map(str, where.ids[:10])) + (", ..." if len(where.ids) > 10 else "")
        return f"dead letters {shown}"
    named = [
        f"{name}={value}"
        for name in ("group", "consumer", "integration", "event_type", "error_type")
        if (value := getattr(where, name))
    ]
    return "dead letters where " + (" ".join(named) or "any")


@dlq.command()
def depth(ctx: typer.Context, integration: IntegrationOpt = None) -> None:
    """Open dead letters per group and consumer."""

    async def work(rt: Runtime) -> None:
        found = await DeadLetters(rt.store).depth(Filter(integration=integration))
        if not found:
            out.print("no open dead letters")
            return
        table = Table("group", "consumer", "depth")
        for (group, consumer), count in sorted(found.items()):
            table.add_row(group, consumer, str(count))
        out.print(table)

    run(ctx, work)


# -- replay and breakers -------------------------------------------------------------------


def replay(
    ctx: typer.Context,
    group: str,
    topic: str,
    from_offset: Annotated[
        int | None, typer.Option(min=0, callback=fits_store, help="offset on every partition")
    ] = None,
    from_time: Annotated[
        str | None, typer.Option(help="first event appended at or after this ISO 8601 time")
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="the oldest stored event")
    ] = False,
) -> None:
    """Make GROUP read TOPIC again from a point; other groups are not touched.

    Running workers notice the moved position within about a second and continue from it
    (their commits are compare-and-set, so they never overwrite a replay)."""
    with reported():
        chosen = [from_offset is not None, from_time is not None, from_beginning]
        if sum(chosen) != 1:
            raise ConfigError(
                "replay needs exactly one starting point",
                fix="give --from-offset N, --from-time ISO or --from-beginning",
            )
        instant = parse_instant(from_time, "--from-time") if from_time is not None else None

    async def work(rt: Runtime) -> None:
        before = [p for p in await rt.log.positions(group) if p.topic == topic]
        offsets = await rt.log.reset(
            group,
            topic,
            to_offset=from_offset,
            to_time=instant,
            to="earliest" if from_beginning else None,
        )
        start = from_time or ("the beginning" if from_beginning else f"offset {from_offset}")
        detail = f"group {group!r} on {topic!r} from {start}"
        await noted(rt.store, REPLAY, integration=None, actor=cli_actor(), detail=detail)
        entry = audit.Entry(
            cli_actor(), "cli", "replay", target=f"{group} on {topic}", detail=detail
        )
        await audit.record(rt.store, entry)
        ends = {p.partition: p.next for p in before}
        table = Table("partition", "next offset", "to read", title=f"{group} on {topic}")
        for partition, offset in sorted(offsets.items()):
            table.add_row(str(partition), str(offset), str(max(0, ends.get(partition, 0) - offset)))
        out.print(table)

    run(ctx, work)


def breakers(ctx: typer.Context) -> None:
    """Every circuit breaker's last state, as reported by the workers."""

    async def work(rt: Runtime) -> None:
        states = await Breakers(rt.store, "cli").states()
        if not states:
            out.print("no breaker has reported a state yet")
            return
        table = Table("name", "state", "failures", "calls", "changed", "reported by")
        for record in states:
            table.add_row(
                record["name"],
                record["state"],
                str(record["failures"]),
                str(record["calls"]),
                when(record["changed_at"] / 1e6),
                record["reported_by"],
            )
        out.print(table)

    run(ctx, work)
