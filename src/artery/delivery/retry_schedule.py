"""Durable retry schedule: a failed event waits here, not in memory, so a scheduled retry
survives a crash and fires at its time. The row carries the event body, so retention
trimming the log cannot strand a retry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from artery.attempts import AttemptError
from artery.envelope import Event
from artery.store import Tx


@dataclass(frozen=True)
class PendingRetry:
    event: Event
    consumer: str
    attempt: int  # attempts already made
    due_at: int  # µs since the epoch
    errors: tuple[AttemptError, ...]


def schedule(
    tx: Tx,
    group: str,
    consumer: str,
    event: Event,
    attempt: int,
    due_at: int,
    errors: Sequence[AttemptError],
) -> None:
    tx.execute(
        "INSERT INTO retries (group_name, topic, partition, event_offset, consumer, attempt,"
        " due_at, body, errors_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (group_name, topic, partition, event_offset) DO UPDATE SET"
        " attempt = excluded.attempt, due_at = excluded.due_at, errors_json = excluded.errors_json",
        (
            group,
            event.topic,
            event.partition,
            event.offset,
            consumer,
            attempt,
            due_at,
            event.to_json(),
            orjson.dumps([e.to_dict() for e in errors]).decode(),
        ),
    )


def remove(tx: Tx, group: str, event: Event) -> None:
    tx.execute(
        "DELETE FROM retries WHERE group_name = ? AND topic = ? AND partition = ?"
        " AND event_offset = ?",
        (group, event.topic, event.partition, event.offset),
    )


def pending(
    tx: Tx, group: str, topic: str, partitions: Sequence[int], due_before: int | None, limit: int
) -> list[PendingRetry]:
    """Retries of the given partitions, soonest first (all of them if ``due_before`` is None)."""
    if not partitions:
        return []
    marks = ",".join("?" * len(partitions))
    sql = (
        "SELECT topic, partition, event_offset, consumer, attempt, due_at, body, errors_json"
        f" FROM retries WHERE group_name = ? AND topic = ? AND partition IN ({marks})"
    )
    params: list[object] = [group, topic, *partitions]
    if due_before is not None:
        sql += " AND due_at <= ?"
        params.append(due_before)
    rows = tx.execute(sql + " ORDER BY due_at LIMIT ?", [*params, limit])
    return [
        PendingRetry(
            event=Event.from_stored(r[6], r[0], r[1], r[2]),
            consumer=r[3],
            attempt=int(r[4]),
            due_at=int(r[5]),
            errors=tuple(AttemptError.from_dict(e) for e in orjson.loads(r[7])),
        )
        for r in rows
    ]


def count(tx: Tx, group: str | None = None) -> int:
    row = tx.one(
        "SELECT COUNT(*) FROM retries" + (" WHERE group_name = ?" if group else ""),
        (group,) if group else (),
    )
    return int(row[0]) if row else 0
