"""Versions of a resource side by side, and who still calls the old one.

A resource served as ``/v1/...`` and ``/v2/...`` at once is two declared routes. The older
one, marked deprecated, answers ``Deprecation: @<unix seconds>`` (RFC 9745), ``Sunset``
(RFC 8594) and ``Link: <successor>; rel="successor-version"``, and every call to it is
counted per client and route, so its owners know whom to chase before the sunset. Counts
are buffered in memory and flushed to ``deprecated_calls`` about every second (and when
the service stops); ``GET /admin/deprecations`` lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from artery.admin.scoped import Scoped
from artery.clock import iso_us
from artery.gateway.policy import ADMIN_READ, Deprecation
from artery.runtime import Runtime
from artery.store import Tx

log = logging.getLogger("artery.gateway")
FLUSH_EVERY = 1.0  # seconds between flushes of the counts to the store


def headers(deprecation: Deprecation) -> dict[str, str]:
    """The response headers of a deprecated route."""
    found = {"Deprecation": f"@{int(deprecation.at.timestamp())}"}
    if deprecation.sunset is not None:
        found["Sunset"] = format_datetime(deprecation.sunset.astimezone(UTC), usegmt=True)
    if deprecation.successor is not None:
        found["Link"] = f'<{deprecation.successor}>; rel="successor-version"'
    return found


class Deprecations:
    """The gate's ``DeprecatedCalls``: headers for deprecated routes, and the calls to them
    counted per route and client. A service (``start``/``stop``) of the serving process."""

    def __init__(self, flush_every: float = FLUSH_EVERY) -> None:
        self.flush_every = flush_every
        self._counts: dict[tuple[str, str], list[int]] = {}  # -> [calls, first_us, last_us]
        self._runtime: Runtime | None = None
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def headers(self, deprecation: Deprecation) -> Mapping[str, str]:
        return headers(deprecation)

    def called(self, route: str, client: str) -> None:
        now = time.time_ns() // 1000
        count = self._counts.get((route, client))
        if count is None:
            self._counts[(route, client)] = [1, now, now]
        else:
            count[0] += 1
            count[2] = now

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        guard = runtime.health.guard("deprecated-calls flush", log)
        self._task = asyncio.create_task(guard.run(self._flush_later), name="deprecated-calls")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runtime is not None:
            await self.flush()

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_every)
        await self.flush()

    async def flush(self) -> None:
        """Add the buffered counts to the store; on failure they stay buffered."""
        if self._runtime is None:
            return
        async with self._flushing:
            taken, self._counts = self._counts, {}
            if not taken:
                return
            rows = [(route, client, c[0], c[1], c[2]) for (route, client), c in taken.items()]
            try:
                await self._runtime.store.write(lambda tx: _add(tx, rows))
            except BaseException:
                self._restore(taken)
                raise

    def _restore(self, taken: dict[tuple[str, str], list[int]]) -> None:
        for ident, (calls, first, last) in taken.items():
            count = self._counts.setdefault(ident, [0, first, last])
            count[0] += calls
            count[1] = min(count[1], first)
            count[2] = max(count[2], last)

    def routes(self) -> list[Scoped]:
        """``GET /admin/deprecations``: calls of deprecated routes per route and client."""
        return [Scoped("/deprecations", self.listing, ("GET",), ADMIN_READ)]

    async def listing(self, request: Request) -> Response:
        return JSONResponse({"deprecations": await self.report()})

    async def report(self) -> list[dict[str, Any]]:
        """Calls per deprecated route and client, including what this process has not
        flushed yet."""
        if self._runtime is None:
            return []
        await self.flush()
        return [_shown(row) for row in await self._runtime.store.read(_rows)]


def _add(tx: Tx, rows: list[tuple[str, str, int, int, int]]) -> None:
    tx.executemany(
        "INSERT INTO deprecated_calls (route, client, calls, first_at, last_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (route, client) DO UPDATE SET"
        " calls = deprecated_calls.calls + excluded.calls,"
        " first_at = CASE WHEN excluded.first_at < deprecated_calls.first_at"
        " THEN excluded.first_at ELSE deprecated_calls.first_at END,"
        " last_at = CASE WHEN excluded.last_at > deprecated_calls.last_at"
        " THEN excluded.last_at ELSE deprecated_calls.last_at END",
        rows,
    )


def _rows(tx: Tx) -> list[Any]:
    return tx.execute(
        "SELECT route, client, calls, first_at, last_at FROM deprecated_calls"
        " ORDER BY route, last_at DESC, client"
    )


def _shown(row: Any) -> dict[str, Any]:
    route, client, calls, first_at, last_at = row
    return {
        "route": route,
        "client": client,
        "calls": int(calls),
        "first_call": iso_us(first_at),
        "last_call": iso_us(last_at),
    }
