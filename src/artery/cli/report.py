"""``artery report MODULE:APP --since 7d [--json]``: the ROI report (``observe/roi.py``)
from the app's store, as tables a person reads or JSON a script keeps (the admin API's
``GET /admin/report`` gives the same JSON)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.observe import roi
from artery.runtime import open_runtime

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
Since = Annotated[str, typer.Option(help="the window, ending now: 12h, 7d, 30d")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of tables")]


def report(
    ctx: typer.Context, target: Target, since: Since = "7d", as_json: AsJson = False
) -> None:
    """Manual interventions per 1,000 events, time to recovery per partner, time to first
    delivered event, and dead letters older than a day."""
    with reported():
        window = roi.window(since, "--since")
        settings = loaded(ctx, target).settings

        async def main() -> roi.Report:
            async with open_runtime(settings) as runtime:
                return await roi.report(runtime.store, since=window, now=runtime.clock.now())

        found = asyncio.run(main())
    if as_json:
        typer.echo(dumps(found.to_dict(), indent=True))
        return
    show(found, since)


def duration(seconds: float | None) -> str:
    """12.5s, 4m 10s, 3h 5m, 2d 4h: the two largest units a person reads at a glance."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, smaller, small in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // small}{smaller}"
    return f"{whole // 60}m {whole % 60}s"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def show(found: roi.Report, since: str) -> None:
    events = found.events
    out.print(f"ROI report for the last {since}: {found.since} to {found.until}", markup=False)
    out.print(f"events: {events.delivered} delivered, {events.dead} dead-lettered", markup=False)
    done = found.interventions
    out.print(
        f"manual interventions: {done.total} ({rate(done.per_1000_events)} per 1,000 events)",
        markup=False,
    )
    kinds = Table("kind", "interventions", "per 1,000 events", title="by kind")
    for kind in done.by_kind:
        kinds.add_row(kind.kind, str(kind.interventions), rate(kind.per_1000_events))
    out.print(kinds)
    if done.by_integration:
        table = Table("integration", "interventions", "events", "per 1,000 events")
        table.title = "by integration"
        for each in done.by_integration:
            table.add_row(
                each.integration or "-",
                str(each.interventions),
                str(each.events),
                rate(each.per_1000_events),
            )
        out.print(table)
    _recovery(found.recovery)
    _onboarding(found.onboarding)
    _stale(found.stale_dead_letters)


def _recovery(recovery: roi.Recovery) -> None:
    if not recovery.partners:
        out.print("time to recovery: no partner incident recovered in the window")
    else:
        table = Table("partner", "integrations", "recovered", "mean time to recovery", "longest")
        table.title = "time to recovery (incidents recovered in the window)"
        for p in recovery.partners:
            table.add_row(
                p.partner,
                ", ".join(p.integrations),
                str(p.recovered),
                duration(p.mean_seconds),
                duration(p.longest_seconds),
            )
        out.print(table)
    if recovery.open:
        still = Table("partner", "integration", "failing since", "open for")
        still.title = "incidents still open"
        for o in recovery.open:
            still.add_row(o.partner, o.integration, o.started_at, duration(o.age_seconds))
        out.print(still)


def _onboarding(found: list[roi.Onboarding]) -> None:
    if not found:
        out.print("onboarding: no integration delivered its first event in the window")
        return
    table = Table("integration", "declared", "first delivered", "time to first event")
    table.title = "time to first delivered event"
    for o in found:
        took = duration(o.seconds) if o.seconds is not None else "waiting "
        if o.waiting_seconds is not None:
            took += duration(o.waiting_seconds)
        table.add_row(o.integration, o.declared_at, o.first_delivered_at or "not yet", took)
    out.print(table)


def _stale(found: list[roi.StaleDeadLetters]) -> None:
    if not found:
        out.print("dead letters: none older than a day")
        return
    table = Table("integration", "dead letters", "oldest", "age")
    table.title = "dead letters older than a day, not redriven"
    for s in found:
        table.add_row(
            s.integration or "-", str(s.count), s.oldest_at, duration(s.oldest_age_seconds)
        )
    out.print(table)
