"""``artery publish`` and ``artery tail``: put events on a topic, read them back."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from artery.cli._shared import (
    dumps,
    err,
    fits_store,
    json_argument,
    out,
    parse_json,
    reported,
    run,
)
from artery.contracts import ContractVersion
from artery.envelope import Event
from artery.errors import ConfigError, Violation
from artery.log import Topic
from artery.runtime import Runtime

SOURCE = "artery://cli"
PAGE = 500


# -- publish -------------------------------------------------------------------------------


def payloads_from(data: str | None, file: Path | None) -> list[tuple[str, Any]]:
    """(label, payload) pairs from DATA or from a JSON-lines file (blank lines skipped)."""
    if (data is None) == (file is None):
        raise ConfigError(
            "give either DATA or --file", fix="publish one event inline/@file, or many with --file"
        )
    if data is not None:
        return [("DATA", json_argument(data, "DATA"))]
    assert file is not None
    try:
        lines = file.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {str(file)!r}: {exc.strerror}", fix="check the path"
        ) from None
    found = [
        (f"{file} line {n}", parse_json(line, f"{file} line {n}"))
        for n, line in enumerate(lines, start=1)
        if line.strip()
    ]
    if not found:
        raise ConfigError(f"{str(file)!r} holds no events", fix="write one JSON value per line")
    return found


def violations_of(
    rt: Runtime, contract: ContractVersion, payloads: Sequence[tuple[str, Any]]
) -> list[tuple[str, list[Violation]]]:
    compiled = rt.registry.compiled(contract)
    checked = ((label, compiled.violations(payload)) for label, payload in payloads)
    return [(label, problems) for label, problems in checked if problems]


def build_events(
    topic: Topic,
    payloads: Sequence[tuple[str, Any]],
    key: str | None,
    idempotency_key: str | None,
    subject: str | None,
) -> list[Event]:
    if idempotency_key is not None and len(payloads) > 1:
        raise ConfigError(
            "--idempotency-key names one event, not a batch",
            fix="publish the events one by one with their own keys, or drop the option",
        )
    return [
        Event(
            type=topic.subject,
            source=SOURCE,
            data=payload,
            subject=subject,
            partitionkey=key,
            idempotencykey=idempotency_key,
        )
        for _, payload in payloads
    ]


def publish(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="topic to append to")],
    data: Annotated[str | None, typer.Argument(help="inline JSON, or @path.json")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="JSON lines: one event per line, one batch")
    ] = None,
    key: Annotated[str | None, typer.Option(help="partition key (ordering)")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="dedupe key")] = None,
    subject: Annotated[str | None, typer.Option(help="CloudEvents subject")] = None,
) -> None:
    """Validate and append events to TOPIC; all of a --file batch is stored, or none."""
    with reported():
        payloads = payloads_from(data, file)

    async def work(rt: Runtime) -> None:
        target = await rt.log.topic(topic)
        contract = await rt.registry.get(target.subject)
        failures = violations_of(rt, contract, payloads)
        if failures:
            refuse(contract, failures, len(payloads))
        events = build_events(target, payloads, key, idempotency_key, subject)
        stored = await rt.log.append(target.name, events)
        for sent, event in zip(events, stored, strict=True):
            state = "published" if event.id == sent.id else "already published"
            out.print(
                f"{state} {event.topic} partition={event.partition} offset={event.offset}"
                f" id={event.id}",
                markup=False,
            )

    run(ctx, work)


def refuse(
    contract: ContractVersion, failures: list[tuple[str, list[Violation]]], total: int
) -> None:
    """Print every violation of every failing event (messages redact classified values)."""
    err.print(
        f"error: {len(failures)} of {total} event(s) violate contract {contract.subject!r}"
        f" v{contract.version}; nothing was published (correct the payload)",
        style="red",
        markup=False,
    )
    for label, problems in failures:
        for problem in problems:
            err.print(f"  {label}: {problem}", markup=False)
    raise typer.Exit(1)


# -- tail ----------------------------------------------------------------------------------


def line_of(event: Event) -> str:
    body = event.to_cloudevent()
    body.update(topic=event.topic, partition=event.partition, offset=event.offset)
    return dumps(body)


async def read_round(rt: Runtime, topic: str, positions: dict[int, int], limit: int) -> list[Event]:
    """Up to ``limit`` events per partition from ``positions`` (advanced past them), merged
    by time; each partition's events stay in offset order."""
    batches = []
    for partition, offset in positions.items():
        batch = await rt.log.read(topic, partition, offset, limit)
        if batch:
            positions[partition] = (batch[-1].offset or 0) + 1
        batches.append(batch)
    return list(heapq.merge(*batches, key=lambda e: e.time))


def emit(events: Sequence[Event]) -> None:
    for event in events:
        typer.echo(line_of(event))


async def tail_events(
    rt: Runtime, name: str, partition: int | None, start: str, limit: int | None
) -> tuple[dict[int, int], int | None]:
    """Print the backlog; returns the positions after it and how many may still print."""
    topic = await rt.log.topic(name)
    states = await rt.log.partitions(topic.name)
    if partition is not None:
        states = [s for s in states if s.partition == partition]
        if not states:
            raise ConfigError(
                f"topic {name!r} has no partition {partition}",
                fix=f"use a partition from 0 to {topic.partitions - 1}",
            )
    if start == "end":
        newest = 10 if limit is None else limit
        positions = {s.partition: max(s.low, s.next - newest) for s in states}
        backlog = await read_round(rt, topic.name, positions, newest) if newest else []
        emit(backlog[len(backlog) - newest :])
        return positions, None
    positions = {s.partition: s.low for s in states}
    remaining = limit
    while remaining is None or remaining > 0:
        page = PAGE if remaining is None else min(PAGE, remaining)
        batch = await read_round(rt, topic.name, positions, page)
        emit(batch if remaining is None else batch[:remaining])
        remaining = None if remaining is None else remaining - len(batch)
        if not batch:
            break
    return positions, remaining


async def follow_events(
    rt: Runtime, name: str, positions: dict[int, int], remaining: int | None, interval: float
) -> None:
    while remaining is None or remaining > 0:
        await asyncio.sleep(interval)
        batch = await read_round(rt, name, positions, PAGE)
        shown = batch if remaining is None else batch[:remaining]
        emit(shown)
        remaining = None if remaining is None else remaining - len(shown)


def tail(
    ctx: typer.Context,
    topic: str,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the oldest stored event")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=0,
            callback=fits_store,
            help="without --from-beginning: how many of the newest events to show (default 10);"
            " with it: the most to print, then stop (even with --follow)",
        ),
    ] = None,
    partition: Annotated[
        int | None, typer.Option(callback=fits_store, help="only this partition")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for new events")] = False,
    interval: Annotated[float, typer.Option(hidden=True, help="poll interval (s)")] = 0.5,
) -> None:
    """Print TOPIC's events as JSON lines (CloudEvents + topic, partition, offset)."""

    async def work(rt: Runtime) -> None:
        start = "beginning" if from_beginning else "end"
        positions, remaining = await tail_events(rt, topic, partition, start, limit)
        if follow:
            await follow_events(rt, topic, positions, remaining, interval)

    try:
        run(ctx, work)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
