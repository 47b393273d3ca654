"""Dead letters: events a consumer gave up on, with every attempt's error.

A dead letter is a home a person can see: list, inspect, redrive (re-run the consumer's
current code from attempt one) or purge (only with explicit confirmation). Redrive puts
the event back on the durable retry schedule, due now, so whichever worker holds the
partition runs it; nothing needs to be running when you redrive.

Each dead letter names the integration whose consumer gave up on it, so a team can find and
redrive its own; letters buried before integrations were recorded name none (``None``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from artery.attempts import AttemptError
from artery.clock import now_us
from artery.delivery import retry_schedule
from artery.envelope import Event
from artery.errors import ConfigError, NotFound
from artery.store import Store, Tx


@dataclass(frozen=True)
class DeadLetter:
    id: int
    group: str
    consumer: str
    event: Event
    reason: str
    errors: tuple[AttemptError, ...]
    created_at: float
    redriven_at: float | None
    integration: str | None = None  # None: buried before integrations were recorded

    def summary(self) -> dict[str, Any]:
        """A listing row: no payload, since data may hold classified fields."""
        return {
            "id": self.id,
            "group": self.group,
            "consumer": self.consumer,
            "integration": self.integration,
            "event_id": self.event.id,
            "type": self.event.type,
            "topic": self.event.topic,
            "partition": self.event.partition,
            "offset": self.event.offset,
            "reason": self.reason,
            "attempts": len(self.errors),
            "last_error": self.errors[-1].type if self.errors else None,
            "created_at": self.created_at,
            "redriven_at": self.redriven_at,
        }


class Purged(NamedTuple):
    """A purged dead letter: its id and integration, all that is left of it."""

    id: int
    integration: str | None


@dataclass(frozen=True)
class Filter:
    """Which dead letters an operation applies to; every field narrows the selection."""

    ids: tuple[int, ...] = ()
    group: str | None = None
    consumer: str | None = None
    event_type: str | None = None
    error_type: str | None = None
    include_redriven: bool = False
    integration: str | None = None
    since: float | None = None  # buried at or after (seconds since the epoch)
    until: float | None = None  # buried before

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if self.ids:
            clauses.append(f"id IN ({','.join('?' * len(self.ids))})")
            params.extend(self.ids)
        for column, value in (
            ("group_name", self.group),
            ("consumer", self.consumer),
            ("event_type", self.event_type),
            ("integration", self.integration),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.error_type is not None:
            # replace() is a case-sensitive, wildcard-free substring test in both dialects.
            markers = [_error_type_marker(name) for name in _spellings(self.error_type)]
            clauses.append(
                "("
                + " OR ".join(["replace(errors_json, ?, '') <> errors_json"] * len(markers))
                + ")"
            )
            params.extend(markers)
        for bound, moment in ((">=", self.since), ("<", self.until)):
            if moment is not None:
                clauses.append(f"created_at {bound} ?")
                params.append(int(moment * 1_000_000))
        if not self.include_redriven:
            clauses.append("redriven_at IS NULL")
        return " AND ".join(clauses), params


_TYPE_NAME = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")

# Artery's own exception classes that moved module: attempts stored before the move carry
# the old name, so a filter by either full name finds both.
_MOVED = {
    "artery.retry.Permanent": "artery.delivery.retry.Permanent",
    "artery.retry.RetryLater": "artery.delivery.retry.RetryLater",
}
_MOVED.update({old: new for new, old in _MOVED.items()})


def _spellings(error_type: str) -> list[str]:
    moved = _MOVED.get(error_type)
    return [error_type] if moved is None else [error_type, moved]


def _error_type_marker(error_type: str) -> str:
    """The text that an attempt of this error type, and nothing else, puts in errors_json.

    Errors are stored as ``{"attempt":N,"type":"module.Class","message":...}`` (the field
    order of ``AttemptError``); quotes inside messages are escaped, so ``","message":``
    only ever follows a type. A dotted name must equal the whole type; a bare class name
    matches it in any module."""
    if not _TYPE_NAME.fullmatch(error_type):
        raise ConfigError(
            f"error type {error_type!r} is not a class name",
            fix="give the full name (builtins.ValueError) or the class name (ValueError);"
            " wildcards are not supported",
        )
    if "." in error_type:
        return f'"type":"{error_type}","message":'
    return f'.{error_type}","message":'


def add(
    tx: Tx,
    group: str,
    consumer: str,
    event: Event,
    reason: str,
    errors: Sequence[AttemptError],
    *,
    integration: str | None = None,
) -> None:
    """Bury an event, naming the integration that declared ``consumer``; a second burial of
    the same event for the group (a redelivery after a crash lost the offset commit) is a
    no-op, so each event has one open dead letter."""
    if tx.one(
        "SELECT 1 FROM dead_letters WHERE group_name = ? AND event_id = ? AND redriven_at IS NULL",
        (group, event.id),
    ):
        return
    tx.execute(
        "INSERT INTO dead_letters (group_name, consumer, topic, partition, event_offset,"
        " event_id, event_type, body, reason, errors_json, created_at, integration)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            group,
            consumer,
            event.topic,
            event.partition,
            event.offset,
            event.id,
            event.type,
            event.to_json(),
            reason,
            orjson.dumps([e.to_dict() for e in errors]).decode(),
            now_us(),
            integration,
        ),
    )


_COLUMNS = (
    "id, group_name, consumer, topic, partition, event_offset, body, reason, errors_json,"
    " created_at, redriven_at, integration"
)


def _row(r: Any) -> DeadLetter:
    return DeadLetter(
        id=int(r[0]),
        group=r[1],
        consumer=r[2],
        event=Event.from_stored(r[6], r[3], r[4], r[5]),
        reason=r[7],
        errors=tuple(AttemptError.from_dict(e) for e in orjson.loads(r[8])),
        created_at=int(r[9]) / 1e6,
        redriven_at=None if r[10] is None else int(r[10]) / 1e6,
        integration=r[11],
    )


class DeadLetters:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def list(
        self,
        where: Filter = Filter(),
        limit: int = 100,
        *,
        newest_first: bool = False,
        before_id: int | None = None,
    ) -> list[DeadLetter]:
        """The selected letters, oldest first (the order to work through them) or newest
        first (what a person looks at); ``before_id`` pages on from a page's last id."""
        sql, params = where.where()
        if before_id is not None:
            sql, params = f"{sql} AND id < ?", [*params, before_id]
        order = "id DESC" if newest_first else "id"
        rows = await self._store.read(
            lambda tx: tx.execute(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE {sql} ORDER BY {order} LIMIT ?",
                [*params, limit],
            )
        )
        return [_row(r) for r in rows]

    async def get(self, dead_letter_id: int) -> DeadLetter:
        found = await self.list(Filter(ids=(dead_letter_id,), include_redriven=True), 1)
        if not found:
            raise NotFound(
                f"dead letter {dead_letter_id} does not exist",
                fix="list them with `artery dlq list`",
            )
        return found[0]

    async def depth(self, where: Filter = Filter()) -> dict[tuple[str, str], int]:
        """Dead letters per (group, consumer) among those ``where`` selects (by default
        every open one)."""
        sql, params = where.where()
        rows = await self._store.read(
            lambda tx: tx.execute(
                "SELECT group_name, consumer, COUNT(*) FROM dead_letters"
                f" WHERE {sql} GROUP BY group_name, consumer",
                params,
            )
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def redrive(
        self, where: Filter, *, record: Callable[[Tx, Sequence[DeadLetter]], None] | None = None
    ) -> int:
        """Schedule the selected dead letters for a fresh run; returns how many.

        ``record`` is called with the letters redriven, in the same transaction, so a note
        of who redrove them (the admin API's and CLI's intervention) commits with them."""
        _require_selection(where, "redrive")
        sql, params = where.where()

        def op(tx: Tx) -> int:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE {sql} AND redriven_at IS NULL",
                params,
            )
            stamp = now_us()
            letters = [_row(r) for r in rows]
            for letter in letters:
                retry_schedule.schedule(
                    tx, letter.group, letter.consumer, letter.event, 0, stamp, []
                )
                tx.execute(
                    "UPDATE dead_letters SET redriven_at = ? WHERE id = ?", (stamp, letter.id)
                )
            if record is not None and letters:
                record(tx, letters)
            return len(letters)

        return await self._store.write(op)

    async def purge(
        self,
        where: Filter,
        *,
        confirm: bool = False,
        record: Callable[[Tx, Sequence[Purged]], None] | None = None,
    ) -> int:
        """Delete the selected letters for good; returns how many. ``record`` is called with
        those deleted, in the same transaction (the console's audit entry)."""
        _require_selection(where, "purge")
        if not confirm:
            raise ConfigError(
                "purge deletes dead letters for good and needs confirmation",
                fix="pass --yes (CLI) or confirm=true (API)",
            )
        sql, params = where.where()

        def op(tx: Tx) -> int:
            rows = tx.execute(
                f"DELETE FROM dead_letters WHERE {sql} RETURNING id, integration", params
            )
            if record is not None and rows:
                record(tx, [Purged(int(r[0]), r[1]) for r in rows])
            return len(rows)

        return await self._store.write(op)


def open_before(tx: Tx, before_us: int) -> list[tuple[str | None, int, int]]:
    """Per integration (None: buried before integrations were recorded), the dead letters
    not redriven that were buried before ``before_us``: how many, and the oldest's time."""
    rows = tx.execute(
        "SELECT integration, COUNT(*), MIN(created_at) FROM dead_letters"
        " WHERE redriven_at IS NULL AND created_at < ? GROUP BY integration",
        (before_us,),
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


def _require_selection(where: Filter, verb: str) -> None:
    if where == Filter() or where == Filter(include_redriven=True):
        raise ConfigError(
            f"{verb} needs a selection",
            fix="give dead letter ids, a group, a consumer, an integration, an event type"
            " or an error type",
        )
