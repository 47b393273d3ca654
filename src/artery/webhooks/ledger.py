"""What each webhook source has seen: calls accepted and when last, so a source silent for
longer than its ``expect_every`` is reported; rejections counted per reason; and the last
``KEPT`` rejected calls, so a person can see why a partner's calls fail.

A rejected call is kept redacted: header names with their values, except credentials and
signatures (``[redacted]``), and the body's shape only, every value replaced by its type:
``{"customer": {"email": "<string>"}}``. Enough to see a missing field or a wrong header,
nothing a log reader should not hold. Writes are batched (one transaction per interval);
a failing flush keeps its rows, backs off and marks the process unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    headers: dict[str, str]
    body: Any


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
        self._rejected: list[Rejection] = []
        self._store: SqlStore | None = None
        self._task: asyncio.Task[None] | None = None

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def accepted(self, source: str) -> None:
        counted = self._accepted.setdefault(source, [0, 0])
        counted[0] += 1
        counted[1] = max(counted[1], self.now_us())

    def rejected(self, rejection: Rejection) -> None:
        if len(self._rejected) < 10_000:  # a flood while the store is down: keep the first
            self._rejected.append(rejection)

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
        if self._store is None or not (self._accepted or self._rejected):
            return
        accepted, self._accepted = self._accepted, {}
        rejected, self._rejected = self._rejected, []
        try:
            await self._store.write(lambda tx: _write(tx, accepted, rejected))
        except BaseException:
            for source, (calls, last) in accepted.items():
                counted = self._accepted.setdefault(source, [0, 0])
                counted[0] += calls
                counted[1] = max(counted[1], last)
            self._rejected[:0] = rejected
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


def _write(tx: Tx, accepted: dict[str, list[int]], rejected: list[Rejection]) -> None:
    tx.executemany(
        "UPDATE webhook_sources SET accepted = accepted + ?, last_accepted_at = CASE"
        " WHEN last_accepted_at IS NULL OR last_accepted_at < ? THEN ? ELSE last_accepted_at"
        " END WHERE name = ?",
        [(calls, last, last, source) for source, (calls, last) in accepted.items()],
    )
    counts: dict[tuple[str, str], list[int]] = {}
    for r in rejected:
        counted = counts.setdefault((r.source, r.reason), [0, 0])
        counted[0] += 1
        counted[1] = max(counted[1], r.at_us)
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
                orjson.dumps(r.headers).decode(),
                orjson.dumps(r.body).decode(),
            )
            for r in rejected
        ],
    )
    for source in {r.source for r in rejected}:
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
