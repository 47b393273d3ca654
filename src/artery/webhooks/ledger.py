"""What each webhook source has seen: calls accepted and when last, so a source silent for
longer than its ``expect_every`` is reported; rejections counted per reason; and the last
``KEPT`` rejected calls, so a person can see why a partner's calls fail.

A rejected call is kept redacted: header names with their values, except credentials and
signatures (``[redacted]``), and the body's shape only, every value replaced by its type:
``{"customer": {"email": "<string>"}}``. Enough to see a missing field or a wrong header,
nothing a log reader should not hold. Redacting and shaping happen when a batch is written,
and only for the calls kept, so a flood of bad calls costs a count each. Writes are batched
(one transaction per interval); a failing flush keeps its rows, backs off and marks the
process unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from artery.clock import iso_us
from artery.runtime import Runtime
from artery.store import SqlStore
from artery.store.protocol import Tx
from artery.webhooks.sources import Source, describe

KEPT = 50  # rejected calls kept per source
REDACTED = "[redacted]"
_SENSITIVE = ("authorization", "cookie", "signature", "hmac", "secret", "token", "api-key")
_MAX_DEPTH = 8
log = logging.getLogger("artery.webhooks")


@dataclass(frozen=True)
class Rejection:
    source: str
    at_us: int
    reason: str
    status: int
    detail: str
    request_id: str | None
    headers: Mapping[str, str] = field(repr=False)  # as received: redacted when written
    body: bytes = field(repr=False)  # as received: shaped when written


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: REDACTED if any(word in name.lower() for word in _SENSITIVE) else value[:200]
        for name, value in headers.items()
    }


def shape(body: bytes) -> Any:
    """The body's shape: its keys and the type of each value, no value."""
    try:
        return _shape(orjson.loads(body), 0)
    except orjson.JSONDecodeError:
        return f"<{len(body)} bytes, not JSON>"


def _shape(value: Any, depth: int) -> Any:
    if depth >= _MAX_DEPTH:
        return "<...>"
    if isinstance(value, dict):
        return {str(k)[:100]: _shape(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, list):
        return [_shape(v, depth + 1) for v in value[:3]] + (["<...>"] if len(value) > 3 else [])
    names = {bool: "boolean", int: "number", float: "number", str: "string"}
    return "<null>" if value is None else f"<{names.get(type(value), 'value')}>"


class Ledger:
    """A service of serving processes: records calls of the declared sources."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        clock: Callable[[], float] = time.time,
        interval: float = 0.5,
    ) -> None:
        self.sources = {s.name: s for s in sources}
        self.clock = clock
        self.interval = interval
        self._accepted: dict[str, list[int]] = {}  # source -> [calls, last_at_us]
        self._counts: dict[tuple[str, str], list[int]] = {}  # (source, reason) -> [n, last]
        self._recent: dict[str, deque[Rejection]] = {}  # the last KEPT per source
        self._store: SqlStore | None = None
        self._task: asyncio.Task[None] | None = None

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def accepted(self, source: str) -> None:
        counted = self._accepted.setdefault(source, [0, 0])
        counted[0] += 1
        counted[1] = max(counted[1], self.now_us())

    def rejected(self, rejection: Rejection) -> None:
        counted = self._counts.setdefault((rejection.source, rejection.reason), [0, 0])
        counted[0] += 1
        counted[1] = max(counted[1], rejection.at_us)
        recent = self._recent.get(rejection.source)
        if recent is None:
            recent = self._recent[rejection.source] = deque(maxlen=KEPT)
        recent.append(rejection)

    def attach(self, store: SqlStore) -> None:
        """Read (``status``, ``rejections``) from ``store`` without serving: for tools."""
        self._store = store

    async def start(self, runtime: Runtime) -> None:
        self._store = runtime.store
        first = self.now_us()
        names = [(name, first) for name in self.sources]
        if names:
            await runtime.store.write(lambda tx: _declare(tx, names))
        guard = runtime.health.guard("webhook-ledger", log)

        async def iteration() -> None:
            await asyncio.sleep(self.interval)
            await self.flush()

        self._task = asyncio.create_task(guard.run(iteration), name="artery-webhook-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        if self._store is None or not (self._accepted or self._counts):
            return
        accepted, self._accepted = self._accepted, {}
        counts, self._counts = self._counts, {}
        recent, self._recent = self._recent, {}
        try:
            await self._store.write(lambda tx: _write(tx, accepted, counts, recent))
        except BaseException:
            _add_back(self._accepted, accepted)
            _add_back(self._counts, counts)
            for source, kept in recent.items():
                newer = self._recent.get(source, ())
                self._recent[source] = deque([*kept, *newer], maxlen=KEPT)
            raise

    async def status(self) -> list[dict[str, Any]]:
        """Each declared source with its liveness and rejection counts."""
        if self._store is None:
            return []
        await self.flush()
        rows, counts = await self._store.read(_status_rows)
        now = self.now_us()
        by_reason: dict[str, dict[str, int]] = {}
        for source, reason, rejected in counts:
            by_reason.setdefault(source, {})[reason] = int(rejected)
        seen = {row[0]: row for row in rows}
        return [
            _status(found, seen.get(name), by_reason.get(name, {}), now)
            for name, found in sorted(self.sources.items())
        ]

    async def rejections(self, source: str, limit: int = KEPT) -> list[dict[str, Any]]:
        """The source's last rejected calls, newest first."""
        if self._store is None:
            return []
        await self.flush()
        rows = await self._store.read(
            lambda tx: tx.execute(
                "SELECT at, reason, status, detail, request_id, headers_json, body_json"
                " FROM webhook_rejections WHERE source = ? ORDER BY id DESC LIMIT ?",
                (source, min(max(1, limit), KEPT)),
            )
        )
        return [
            {
                "at": iso_us(at),
                "reason": reason,
                "status": int(status),
                "detail": detail,
                "request_id": request_id,
                "headers": orjson.loads(headers),
                "body": orjson.loads(body),
            }
            for at, reason, status, detail, request_id, headers, body in rows
        ]


def _declare(tx: Tx, names: list[tuple[str, int]]) -> None:
    tx.executemany(
        "INSERT INTO webhook_sources (name, first_seen_at, accepted) VALUES (?, ?, 0)"
        " ON CONFLICT (name) DO NOTHING",
        names,
    )


def _add_back(into: dict[Any, list[int]], counted: dict[Any, list[int]]) -> None:
    for key, (n, last) in counted.items():
        found = into.setdefault(key, [0, 0])
        found[0] += n
        found[1] = max(found[1], last)


def _write(
    tx: Tx,
    accepted: dict[str, list[int]],
    counts: dict[tuple[str, str], list[int]],
    recent: dict[str, deque[Rejection]],
) -> None:
    tx.executemany(
        "UPDATE webhook_sources SET accepted = accepted + ?, last_accepted_at = CASE"
        " WHEN last_accepted_at IS NULL OR last_accepted_at < ? THEN ? ELSE last_accepted_at"
        " END WHERE name = ?",
        [(calls, last, last, source) for source, (calls, last) in accepted.items()],
    )
    tx.executemany(
        "INSERT INTO webhook_rejection_counts (source, reason, rejected, last_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (source, reason) DO UPDATE SET"
        " rejected = webhook_rejection_counts.rejected + excluded.rejected,"
        " last_at = excluded.last_at",
        [(source, reason, n, last) for (source, reason), (n, last) in counts.items()],
    )
    tx.executemany(
        "INSERT INTO webhook_rejections (source, at, reason, status, detail, request_id,"
        " headers_json, body_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.source,
                r.at_us,
                r.reason,
                r.status,
                r.detail[:500],
                r.request_id,
                orjson.dumps(redacted_headers(r.headers)).decode(),
                orjson.dumps(shape(r.body)).decode(),
            )
            for kept in recent.values()
            for r in kept
        ],
    )
    for source in recent:
        tx.execute(
            "DELETE FROM webhook_rejections WHERE source = ? AND id < (SELECT MIN(id) FROM"
            " (SELECT id FROM webhook_rejections WHERE source = ? ORDER BY id DESC LIMIT ?)"
            " AS kept)",
            (source, source, KEPT),
        )


def _status_rows(tx: Tx) -> tuple[list[Any], list[Any]]:
    rows = tx.execute("SELECT name, first_seen_at, last_accepted_at, accepted FROM webhook_sources")
    counts = tx.execute("SELECT source, reason, rejected FROM webhook_rejection_counts")
    return rows, counts


def _status(found: Source, row: Any | None, reasons: dict[str, int], now_us: int) -> dict[str, Any]:
    first = int(row[1]) if row else now_us
    last = int(row[2]) if row and row[2] is not None else None
    quiet_us = now_us - (last if last is not None else first)
    silent = found.expect_every is not None and quiet_us > found.expect_every * 1_000_000
    return {
        **describe(found),
        "accepted": int(row[3]) if row else 0,
        "last_accepted_at": iso_us(last) if last is not None else None,
        "silent": silent,
        "quiet_for": round(quiet_us / 1e6, 3),
        "rejected": reasons,
    }


__all__ = ["KEPT", "REDACTED", "Ledger", "Rejection", "redacted_headers", "shape"]
