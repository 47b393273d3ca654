"""Access tokens this gateway issues: RFC 9068 JWTs signed with a rotating key.

A token is a JWT with header ``typ: at+jwt``, ``alg: ES256`` and the ``kid`` of the key that
signed it, and the claims RFC 9068 §2.2 requires: ``iss``, ``aud``, ``sub`` (the client,
since no resource owner takes part in client credentials), ``client_id``, ``iat``, ``exp``,
``jti`` and ``scope``.

Why ES256: a P-256 key is made in well under a millisecond (an RSA key takes tens, on the
event loop), a signature is 64 bytes (a 2048-bit RSA one is 256, in every request), and it
gives 128-bit security; every JOSE library verifies it. Tokens from an external issuer may
use RS256 as well (``jwks.ASYMMETRIC``); this gateway's own are pinned to ES256 alone.

Signing keys live in the ``signing_keys`` table, shared by every gateway process on the
store. The first token makes the first key. A key signs for ``settings.signing_key_rotation``
seconds; the first process to need a key after that replaces it, in one transaction under
the store's exclusive lock (check, then insert), so two processes rotating at once make one
key, not two. The replaced key is still published in the JWKS and accepted until
``retire_at`` = rotation + twice ``token_ttl`` + the verifier's leeway (every token it signed
has expired by then), and is deleted, private half included, by a later rotation. Every
process decides that a key is due from its ``created_at``, so all of them stop signing with
it at the same moment.

The private key (PEM) is a secret: it is read only to sign and never logged, shown or put in
an error.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from artery.clock import MICROS, Clock, SystemClock
from artery.config import Settings
from artery.errors import ConfigError
from artery.gateway.auth.jwks import VerificationKey
from artery.store import Store, Tx

log = logging.getLogger("artery.gateway.auth")

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"
LEEWAY = 30.0  # seconds of clock skew a verifier forgives on exp, nbf and iat
UNKNOWN_KID_FLOOR = 0.25  # seconds between rereads of the table for an unknown kid
_COLUMNS = "kid, private_pem, public_jwk, created_at, retire_at"


@dataclass(frozen=True)
class IssuedToken:
    """An access token and what the token endpoint says about it (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]
    kid: str


@dataclass(frozen=True)
class _Key:
    """A row of ``signing_keys``, its private half loaded only for the active key."""

    kid: str
    public_jwk: dict[str, Any]
    created_at: int  # microseconds
    retire_at: int | None  # microseconds; None while it is the active key
    private: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)


class TokenIssuer:
    """Issues access tokens and publishes the keys that verify them.

    ``base_url`` is the gateway's own URL (or a function giving it once the server is
    bound): the ``iss`` of its tokens when ``settings.token_issuer`` is empty."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        base_url: str | Callable[[], str] = "",
        clock: Clock | None = None,
        cache_for: float = 10.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cache_for = cache_for  # how long the published keys are reused unread
        self._base_url = base_url
        self._clock = clock or SystemClock()
        self._active: _Key | None = None
        self._published: dict[str, _Key] = {}
        self._verifiers: dict[str, VerificationKey] = {}
        self._read_at: float | None = None  # monotonic time of the last read of the table
        self._lock = asyncio.Lock()

    @property
    def issuer(self) -> str:
        """The ``iss`` of this gateway's tokens."""
        issuer = self.settings.token_issuer or (
            self._base_url() if callable(self._base_url) else self._base_url
        )
        if not issuer:
            raise ConfigError(
                "access tokens have no issuer: token_issuer is empty and the gateway's URL"
                " is not known",
                fix="set token_issuer (ARTERY_TOKEN_ISSUER) to the gateway's public URL",
            )
        return issuer.rstrip("/") if issuer.startswith(("http://", "https://")) else issuer

    def serving_at(self, url: str) -> None:
        """Adopt ``url`` as the gateway's base URL unless one is known already: the token
        endpoint passes the address its socket is bound to (never the client's ``Host``
        header), so ``iss`` is stable for the process's life. Several gateways sharing a
        store must set ``token_issuer``, or each would trust only its own tokens."""
        if self.settings.token_issuer or self._base_url:
            return
        log.warning(
            "token_issuer is not set: access tokens name %s as their issuer; set"
            " token_issuer when several gateway processes share the store",
            url,
        )
        self._base_url = url

    @property
    def overlap(self) -> float:
        """Seconds a replaced key stays published and accepted after rotation."""
        return 2 * self.settings.token_ttl + LEEWAY

    async def issue(self, client_id: str, scopes: Iterable[str]) -> IssuedToken:
        """A fresh access token for ``client_id`` carrying ``scopes``."""
        key = await self._signing_key()
        assert key.private is not None
        granted = tuple(sorted(set(scopes)))
        now = int(self._clock.now())
        ttl = int(self.settings.token_ttl)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.settings.token_audience,
            "sub": client_id,
            "client_id": client_id,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
        }
        if granted:
            claims["scope"] = " ".join(granted)
        token = jwt.encode(
            claims, key.private, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE, "kid": key.kid}
        )
        return IssuedToken(token, ttl, granted, key.kid)

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys of every key not yet retired (a key is made first if none
        exists, so the set is never empty)."""
        await self._signing_key()
        await self._read(force=False)
        now = self._clock.now_us()
        return {"keys": [k.public_jwk for k in self._published.values() if _live(k, now)]}

    async def key(self, kid: str) -> VerificationKey | None:
        """The published key ``kid``, for verifying this gateway's own tokens; the table
        is read again when ``kid`` is unknown (another process may have just rotated),
        at most every ``UNKNOWN_KID_FLOOR`` seconds."""
        await self._read(force=kid not in self._published)
        found = self._published.get(kid)
        if found is None or not _live(found, self._clock.now_us()):
            return None
        return self._verifiers.get(kid)

    async def _read(self, *, force: bool) -> None:
        """Reload the published keys if they are older than ``cache_for`` (or than
        ``UNKNOWN_KID_FLOOR``, when ``force``d by an unknown kid)."""
        now = self._clock.monotonic()
        age = None if self._read_at is None else now - self._read_at
        if age is not None and age < (UNKNOWN_KID_FLOOR if force else self.cache_for):
            return
        rows = await self.store.read(_published_rows)
        self._published = {key.kid: key for key in rows}
        self._verifiers = {
            key.kid: self._verifiers.get(key.kid)
            or VerificationKey(key.kid, ALGORITHM, ECAlgorithm.from_jwk(key.public_jwk))
            for key in rows
        }
        self._read_at = now

    async def _signing_key(self) -> _Key:
        """The active key, loaded from the table, or made there when there is none or it
        is due for rotation."""
        key = self._active
        if key is not None and not self._due(key):
            return key
        async with self._lock:
            key = self._active
            if key is None or self._due(key):
                key = await self.store.read(_active_row)
                if key is None or self._due(key):
                    fresh = _new_key(self._clock.now_us())
                    key = await self.store.write(self._rotation(fresh))
                self._active = key
                self._read_at = None  # the published set changed, or may have
            return key

    def _due(self, key: _Key) -> bool:
        return key.created_at + self.settings.signing_key_rotation * MICROS <= self._clock.now_us()

    def _rotation(self, fresh: _Key) -> Callable[[Tx], _Key]:
        def rotate(tx: Tx) -> _Key:
            tx.dialect.migration_lock(tx)  # the store's exclusive lock: one rotation at once
            now = self._clock.now_us()
            tx.execute(
                "DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at <= ?", (now,)
            )
            current = _active_row(tx)
            if current is not None and not self._due(current):
                return current  # another process rotated first: use its key
            tx.execute(
                "UPDATE signing_keys SET retire_at = ? WHERE retire_at IS NULL",
                (now + int(self.overlap * MICROS),),
            )
            assert fresh.private is not None
            tx.execute(
                f"INSERT INTO signing_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL)",
                (fresh.kid, _pem(fresh.private), json.dumps(fresh.public_jwk), now),
            )
            return _Key(fresh.kid, fresh.public_jwk, now, None, fresh.private)

        return rotate


def _live(key: _Key, now_us: int) -> bool:
    return key.retire_at is None or key.retire_at > now_us


def _active_row(tx: Tx) -> _Key | None:
    row = tx.one(
        f"SELECT {_COLUMNS} FROM signing_keys WHERE retire_at IS NULL"
        " ORDER BY created_at DESC, kid DESC LIMIT 1"
    )
    if row is None:
        return None
    private = serialization.load_pem_private_key(str(row[1]).encode(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return _Key(str(row[0]), json.loads(row[2]), int(row[3]), None, private)


def _published_rows(tx: Tx) -> list[_Key]:
    rows = tx.execute(
        "SELECT kid, public_jwk, created_at, retire_at FROM signing_keys ORDER BY created_at DESC"
    )
    return [
        _Key(str(kid), json.loads(jwk), int(created), None if retire is None else int(retire))
        for kid, jwk, created, retire in rows
    ]


def _new_key(now_us: int) -> _Key:
    private = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = thumbprint(public)
    public_jwk = {**public, "kid": kid, "use": "sig", "alg": ALGORITHM}
    return _Key(kid, public_jwk, now_us, None, private)


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of an EC public key: a ``kid`` that names the key itself."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _pem(private: ec.EllipticCurvePrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
