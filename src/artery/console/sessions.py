"""Console sessions: an API key holding ``console:read`` is exchanged once for a cookie.

The cookie is 256 random bits; only its SHA-256 is stored (``console_sessions``), with the
key it came from, a CSRF token and an expiry. It is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page sends it) and ``Secure`` when the console is
served over https. A session is checked on every request against its key, so revoking
the key, or the key losing its console scopes, ends the session within a second; its
scopes are the key's scopes as they are now.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from artery.errors import Unauthenticated
from artery.gateway.auth.keys import ApiKeys
from artery.gateway.policy import Principal
from artery.store import SqlStore
from artery.store.protocol import Tx

COOKIE = "artery_console"
CACHE_SECONDS = 1.0
CHALLENGE = 'Cookie realm="artery-console"'


@dataclass(frozen=True)
class Session:
    """A signed-in viewer: who, through which key, and the token forms must carry."""

    key_prefix: str
    subject: str
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def signed_out(reason: str) -> Unauthenticated:
    return Unauthenticated(
        f"the console session is not valid: {reason}",
        fix="sign in again with an API key holding console:read",
        headers={"WWW-Authenticate": CHALLENGE},
    )


class Sessions:
    """The store's console sessions, and the gate's ``Authenticator`` for the console."""

    def __init__(
        self, store: SqlStore, keys: ApiKeys, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.keys = keys
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, Session | None]] = {}

    async def open(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal`` (an API key's): the cookie value, shown once."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(
            principal.credential.removeprefix("key:"),
            principal.subject,
            secrets.token_urlsafe(32),
            now + self.ttl,
        )
        row = (
            _digest(token),
            session.key_prefix,
            session.subject,
            session.csrf,
            int(now * 1e6),
            int(session.expires_at * 1e6),
        )

        def insert(tx: Tx) -> None:
            tx.execute("DELETE FROM console_sessions WHERE expires_at < ?", (int(now * 1e6),))
            tx.execute(
                "INSERT INTO console_sessions (id_hash, key_prefix, subject, csrf, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )

        await self.store.write(insert)
        return token, session

    async def close(self, token: str) -> None:
        """Sign out: the session is gone in every process within ``CACHE_SECONDS``."""
        digest = _digest(token)
        self._cache.pop(digest, None)
        await self.store.write(
            lambda tx: tx.execute("DELETE FROM console_sessions WHERE id_hash = ?", (digest,))
        )

    async def find(self, token: str) -> Session | None:
        digest = _digest(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        row = await self.store.read(
            lambda tx: tx.one(
                "SELECT key_prefix, subject, csrf, expires_at FROM console_sessions"
                " WHERE id_hash = ?",
                (digest,),
            )
        )
        found = None if row is None else Session(row[0], row[1], row[2], row[3] / 1e6)
        if len(self._cache) > 10_000:  # cookies probed at random must not grow it unbounded
            self._cache.clear()
        self._cache[digest] = (now, found)
        return found

    async def authenticate(self, request: Request) -> Principal:
        """The viewer proven by the session cookie, with its key's scopes as they are now;
        the session is kept in the request's state for the CSRF check and the pages."""
        token = request.cookies.get(COOKIE)
        if not token:
            raise signed_out("no session cookie")
        session = await self.find(token)
        if session is None:
            raise signed_out("unknown or signed-out session")
        if session.expires_at <= self.clock():
            raise signed_out("the session expired")
        principal = await self.keys.principal_of(session.key_prefix)
        if principal is None:
            raise signed_out(f"key {session.key_prefix} is no longer active")
        request.scope.setdefault("state", {})["session"] = session
        return Principal(principal.subject, "console:" + session.key_prefix, principal.scopes)


def same_token(given: str | None, session: Session) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())
