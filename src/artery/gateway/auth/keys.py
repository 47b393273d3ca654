"""API keys: shown once, stored hashed, found by a visible prefix.

A key reads ``ak_<8 hex>_<43 url-safe characters>``: ``ak_<8 hex>`` is its prefix (shown
in listings, logs and decisions, and the ``client_id`` when the key is exchanged for an
access token); the rest is 256 random bits. Only the key's SHA-256 is stored: with that
much entropy a slow password hash buys nothing, and verification stays a hash and a
constant-time compare. A verified key's row is cached for ``CACHE_SECONDS``, so a
revocation or expiry reaches every gateway process within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from artery.errors import ConfigError, NotFound, Unauthenticated
from artery.gateway.buffered import Buffered
from artery.gateway.policy import Principal
from artery.runtime import Runtime
from artery.store import SqlStore
from artery.store.protocol import Row, Tx

KEY = re.compile(r"^(ak_[0-9a-f]{8})_[A-Za-z0-9_\-]{43}$")
SCOPE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
NAME = re.compile(r"^[A-Za-z0-9_.@\- ]{1,100}$")
log = logging.getLogger("artery.gateway")
CACHE_SECONDS = 1.0
USAGE_EVERY = 60.0  # last_used_at is written at most this often per key
CHALLENGE = 'Bearer realm="artery"'
_COLUMNS = "prefix, name, scopes_json, created_at, expires_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class ApiKey:
    """A key's record, never its secret. Times are unix seconds."""

    prefix: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "name": self.name,
            "scopes": list(self.scopes),
            "status": self.status(now),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }

    @classmethod
    def from_row(cls, row: Row) -> ApiKey:
        prefix, name, scopes, created, expires, revoked, used = row
        return cls(
            prefix,
            name,
            tuple(orjson.loads(scopes)),
            created / 1e6,
            None if expires is None else expires / 1e6,
            None if revoked is None else revoked / 1e6,
            None if used is None else used / 1e6,
        )


def invalid(description: str) -> Unauthenticated:
    """A refused credential, with the RFC 6750 challenge saying why (never the key)."""
    return Unauthenticated(
        f"the API key is not valid: {description}",
        fix="use an active key (artery keys list shows their status)",
        headers={
            "WWW-Authenticate": f'{CHALLENGE}, error="invalid_token",'
            f' error_description="{description}"'
        },
    )


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise ConfigError(f"scopes {scopes!r} is one string", fix=f'pass a list: ["{scopes}"]')
    for scope in scopes:
        if not SCOPE.match(scope):
            raise ConfigError(
                f"scope {scope!r} is not a scope name",
                fix="use letters, digits and . _ - :, e.g. orders:write",
            )
    return tuple(dict.fromkeys(scopes))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    """The store's API keys. A service of serving processes: it writes keys' last use in
    batches, off the request path."""

    def __init__(self, store: SqlStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}
        self._noted: dict[str, float] = {}
        self.usage: Buffered[tuple[int, str]] = Buffered("api-key-usage", _write_usage)

    async def create(
        self, name: str, scopes: Sequence[str], *, expires_in: float | None = None
    ) -> tuple[str, ApiKey]:
        """A new key and its record; the key itself is returned here and never again."""
        if not NAME.match(name or ""):
            raise ConfigError(
                f"key name {name!r} is not usable",
                fix="name who holds it in up to 100 letters, digits, spaces or . _ - @",
            )
        if expires_in is not None and not expires_in > 0:
            raise ConfigError("a key's expiry must be in the future", fix="e.g. --expires 90d")
        scopes = check_scopes(scopes)
        prefix = "ak_" + secrets.token_hex(4)
        secret = f"{prefix}_{secrets.token_urlsafe(32)}"
        now = int(self.clock() * 1e6)
        expires = None if expires_in is None else now + int(expires_in * 1e6)

        def insert(tx: Tx) -> None:
            tx.execute(
                "INSERT INTO api_keys (prefix, name, secret_hash, scopes_json, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (prefix, name, _digest(secret), orjson.dumps(scopes).decode(), now, expires),
            )

        await self.store.write(insert)
        return secret, ApiKey(prefix, name, scopes, now / 1e6, _seconds(expires), None, None)

    async def listed(self) -> list[ApiKey]:
        rows = await self.store.read(
            lambda tx: tx.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, prefix")
        )
        return [ApiKey.from_row(row) for row in rows]

    async def revoke(self, prefix: str) -> ApiKey:
        """Revoke a key by its prefix; revoking a revoked key changes nothing."""
        now = int(self.clock() * 1e6)

        def revoke(tx: Tx) -> Row | None:
            tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
                (now, prefix),
            )
            return tx.one(f"SELECT {_COLUMNS} FROM api_keys WHERE prefix = ?", (prefix,))

        row = await self.store.write(revoke)
        if row is None:
            raise NotFound(f"no API key has the prefix {prefix!r}", fix="see artery keys list")
        self._cache.pop(prefix, None)
        return ApiKey.from_row(row)

    async def active(self) -> int:
        """How many keys could authenticate now (``artery run`` says how to make one)."""
        now = int(self.clock() * 1e6)
        row = await self.store.read(
            lambda tx: tx.one(
                "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > ?)",
                (now,),
            )
        )
        return int(row[0]) if row else 0

    async def verify(self, secret: str) -> Principal:
        """The principal ``secret`` proves; raises ``Unauthenticated`` if it proves none."""
        match = KEY.match(secret)
        if match is None:
            raise invalid("malformed key")
        prefix = match[1]
        found = await self._lookup(prefix)
        if found is None or not hmac.compare_digest(found[1], _digest(secret)):
            raise invalid("unknown key")
        key, _ = found
        now = self.clock()
        status = key.status(now)
        if status != "active":
            raise invalid(f"key {prefix} is {status}")
        self._note_use(prefix, now)
        return Principal(key.name, "key:" + prefix, frozenset(key.scopes))

    async def principal_of(self, prefix: str) -> Principal | None:
        """The principal of the key ``prefix`` while it is active (cached like ``verify``):
        a console session asks on each request, so it ends when its key is revoked."""
        found = await self._lookup(prefix)
        if found is None or found[0].status(self.clock()) != "active":
            return None
        key = found[0]
        return Principal(key.name, "key:" + prefix, frozenset(key.scopes))

    async def _lookup(self, prefix: str) -> tuple[ApiKey, str] | None:
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        row = await self.store.read(
            lambda tx: tx.one(
                f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE prefix = ?", (prefix,)
            )
        )
        found = None if row is None else (ApiKey.from_row(row[:-1]), str(row[-1]))
        if len(self._cache) > 10_000:  # keys probed at random must not grow it unbounded
            self._cache.clear()
        self._cache[prefix] = (now, found)
        return found

    def _note_use(self, prefix: str, now: float) -> None:
        if now - self._noted.get(prefix, 0.0) >= USAGE_EVERY:
            self._noted[prefix] = now
            self.usage.add((int(now * 1e6), prefix))

    async def start(self, runtime: Runtime) -> None:
        await self.usage.start(runtime)
        if not await self.active():  # a fresh install: say how to make the first key
            log.warning(
                "no API key exists yet, so every route but /healthz and /readyz refuses"
                " callers; create one with: artery keys create NAME --scope admin:read"
                " --scope admin:write"
            )

    async def stop(self) -> None:
        await self.usage.stop()


def _write_usage(tx: Tx, rows: Sequence[tuple[int, str]]) -> None:
    tx.executemany(
        "UPDATE api_keys SET last_used_at = ? WHERE prefix = ?"
        " AND (last_used_at IS NULL OR last_used_at < ?)",
        [(at, prefix, at) for at, prefix in rows],
    )


def _seconds(us: int | None) -> float | None:
    return None if us is None else us / 1e6
