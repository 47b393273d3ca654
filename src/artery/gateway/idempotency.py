"""``Idempotency-Key`` (IETF httpapi idempotency-key-header draft): a retried POST or PATCH
is answered once, with the same response.

The first request with a key (per client and route) claims it with one INSERT, whose
primary key decides between racing requests, also across gateway processes sharing
PostgreSQL; the claim keeps a fingerprint of the request. Once answered, the answer
(status, headers, body) is kept for ``Settings.idempotency_ttl`` and a retry with the same
key and request gets it again, marked ``Idempotent-Replayed: true``. The same key with
another request is a 422 problem; a retry while the first is still in flight a 409. An
answer the server failed to give (5xx, an error, a timeout) is not kept: the claim is let
go and the key can be retried. A claim whose process died is taken over once it is older
than the route's timeout (the ``lease``). Expired rows are swept on write, now and then.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from artery.errors import ArteryError, Conflict
from artery.store import SqlStore, Tx

MAX_KEY = 255
REPLAYED = "Idempotent-Replayed"
SWEEP_EVERY = 60.0  # seconds between sweeps of expired answers, per process
# Headers a replay must not copy: the server sets them again for each response
_NOT_REPLAYED = frozenset({"content-length", "date", "server", "connection", "set-cookie"})
_KEY = "client = ? AND route = ? AND idem_key = ?"


class BadIdempotencyKey(ArteryError):
    code = "artery.bad-idempotency-key"
    http_status = 400


class IdempotencyKeyReused(ArteryError):
    """The key was first used for another request; its answer belongs to that one."""

    code = "artery.idempotency-key-reused"
    http_status = 422


class IdempotencyKeyInFlight(Conflict):
    """The first request with this key has not been answered yet."""

    code = "artery.idempotency-in-flight"


@dataclass(frozen=True)
class Stored:
    """What a claim found: nothing (``claimed``), or the first request's row."""

    claimed: bool
    fingerprint: str = ""
    status: int | None = None
    headers: list[list[str]] | None = None
    body: bytes = b""


class Idempotency:
    """Answers a keyed request once; ``ttl`` seconds an answer is kept."""

    def __init__(self, store: SqlStore, ttl: float, *, sweep_every: float = SWEEP_EVERY) -> None:
        self.store = store
        self.ttl = ttl
        self.sweep_every = sweep_every
        self._swept = 0.0

    @staticmethod
    def fingerprint(path: str, query: str, body: bytes) -> str:
        """What makes two requests with one key the same request: path, query and body."""
        digest = hashlib.sha256(path.encode() + b"?" + query.encode() + b"\n")
        digest.update(body)
        return digest.hexdigest()

    async def once(
        self,
        *,
        client: str,
        route: str,
        key: str,
        fingerprint: str,
        lease: float,
        produce: Callable[[], Awaitable[Response]],
    ) -> Response:
        """The answer of ``produce()`` for the first request with ``key``; the stored
        answer for a retry of it."""
        ident = (client, route, _parse_key(key))
        now = _now_us()
        sweep = time.monotonic() - self._swept > self.sweep_every
        if sweep:
            self._swept = time.monotonic()
        found = await self.store.write(
            lambda tx: _claim(tx, ident, fingerprint, now, self.ttl, lease, sweep)
        )
        if not found.claimed:
            return _replay(found, fingerprint)
        try:
            response = await produce()
        except BaseException:
            await self.store.write(lambda tx: _release(tx, ident, now))
            raise
        body = getattr(response, "body", None)
        if response.status_code >= 500 or not isinstance(body, bytes):
            await self.store.write(lambda tx: _release(tx, ident, now))
            return response
        kept = [
            [name.decode("latin-1"), value.decode("latin-1")]
            for name, value in response.raw_headers
            if name.decode("latin-1").lower() not in _NOT_REPLAYED
        ]
        answer = (response.status_code, orjson.dumps(kept).decode(), body)
        await self.store.write(lambda tx: _keep(tx, ident, now, answer))
        return response


def _now_us() -> int:
    return time.time_ns() // 1000


def _parse_key(header: str) -> str:
    """The key of an ``Idempotency-Key`` header: a structured-field string (``"..."``), or
    a bare token as many clients send it."""
    text = header.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not 0 < len(text) <= MAX_KEY or any(not " " <= c <= "~" or c in '"\\' for c in text):
        raise BadIdempotencyKey(
            f"the Idempotency-Key header is not a key of 1 to {MAX_KEY} printable characters",
            fix='send a unique key per operation, e.g. Idempotency-Key: "<a fresh UUID>"',
        )
    return text


def _claim(
    tx: Tx,
    ident: tuple[str, str, str],
    fingerprint: str,
    now: int,
    ttl: float,
    lease: float,
    sweep: bool,
) -> Stored:
    if sweep:
        tx.execute("DELETE FROM idempotent_requests WHERE expires_at <= ?", (now,))
    stale = now - int(lease * 1_000_000)
    tx.execute(
        f"DELETE FROM idempotent_requests WHERE {_KEY}"
        " AND (expires_at <= ? OR (status IS NULL AND created_at < ?))",
        (*ident, now, stale),
    )
    claimed = tx.one(
        "INSERT INTO idempotent_requests (client, route, idem_key, fingerprint, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (client, route, idem_key) DO NOTHING RETURNING idem_key",
        (*ident, fingerprint, now, now + int(ttl * 1_000_000)),
    )
    if claimed is not None:
        return Stored(claimed=True)
    row = tx.one(
        f"SELECT fingerprint, status, headers_json, body FROM idempotent_requests WHERE {_KEY}",
        ident,
    )
    if row is None:  # let go between our DELETE and INSERT by another process: retry later
        return Stored(claimed=False, fingerprint=fingerprint)
    headers = None if row[2] is None else orjson.loads(row[2])
    return Stored(False, row[0], row[1], headers, bytes(row[3] or b""))


def _release(tx: Tx, ident: tuple[str, str, str], claimed_at: int) -> None:
    tx.execute(
        f"DELETE FROM idempotent_requests WHERE {_KEY} AND status IS NULL AND created_at = ?",
        (*ident, claimed_at),
    )


def _keep(tx: Tx, ident: tuple[str, str, str], claimed_at: int, answer: tuple[Any, ...]) -> None:
    tx.execute(
        "UPDATE idempotent_requests SET status = ?, headers_json = ?, body = ?"
        f" WHERE {_KEY} AND created_at = ?",
        (*answer, *ident, claimed_at),
    )


def _replay(found: Stored, fingerprint: str) -> Response:
    if found.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was first used for a different request (another body,"
            " path or query) on this route",
            fix="use a new key for a new request; resend the first request unchanged to get"
            " its answer again",
        )
    if found.status is None or found.headers is None:
        raise IdempotencyKeyInFlight(
            "the first request with this Idempotency-Key is still being processed",
            fix="retry after a moment to get its answer",
            headers={"Retry-After": "1"},
        )
    headers = {name: value for name, value in found.headers}
    headers[REPLAYED] = "true"
    return Response(found.body, found.status, headers=headers)
