"""The external issuer's signing keys, read from its JWKS URL and cached.

Tokens of an outside OAuth2 issuer (``settings.external_issuer``) verify against the keys it
publishes at ``settings.external_jwks_url``. The set is fetched with httpx when first needed,
kept for ``max_age`` seconds, and fetched again early when a token names a ``kid`` the cache
does not hold (the issuer rotated its key) -- but never more often than once per
``refetch_floor`` seconds, so tokens with made-up ``kid`` values cannot turn this gateway
into a flood of requests to the issuer. A failed fetch keeps the keys already cached (the
issuer being down must not lock out tokens it signed earlier) and is logged, naming the URL
without credentials or query.

Only asymmetric signing keys are kept: a symmetric (``oct``) key, an encryption key
(``use: enc``) or a key for an algorithm outside ``ASYMMETRIC`` is skipped, so a token can
never be verified with an HMAC secret an attacker knows (algorithm confusion).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from artery.clock import Clock, SystemClock
from artery.webhooks.guard import AddressPolicy, guarded_client

log = logging.getLogger("artery.gateway.auth")

# Signature algorithms accepted from an external issuer: public-key ones only. RS256 is the
# one RFC 9068 §2.1 requires every party to support; the others are common at issuers.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class VerificationKey:
    """One public key a token's signature may be checked with, and the single algorithm
    it is pinned to (a token whose header names another algorithm is refused)."""

    kid: str
    algorithm: str
    key: Any  # a cryptography public key object, as PyJWT takes it


class RemoteJwks:
    """The key set published by one issuer at ``url``; ``key(kid)`` is all a verifier asks."""

    def __init__(
        self,
        url: str,
        *,
        refetch_floor: float = 30.0,
        max_age: float = 600.0,
        timeout: float = 5.0,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.refetch_floor = refetch_floor
        self.max_age = max_age
        self.timeout = timeout
        self.fetches = 0  # attempts made, successful or not (for tests and metrics)
        self._clock = clock or SystemClock()
        self._transport = transport
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # monotonic time of the last good fetch
        self._tried_at: float | None = None  # monotonic time of the last attempt
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> VerificationKey | None:
        """The key named ``kid``, fetching the set first when it was never fetched, is
        older than ``max_age``, or lacks ``kid`` (each subject to the refetch floor)."""
        if kid not in self._keys or self._stale():
            await self.refresh()
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock.monotonic() - self._fetched_at > self.max_age

    async def refresh(self) -> None:
        """Fetch the key set unless an attempt was made less than ``refetch_floor`` ago;
        concurrent callers share one fetch."""
        async with self._lock:
            now = self._clock.monotonic()
            if self._tried_at is not None and now - self._tried_at < self.refetch_floor:
                return
            self._tried_at = now
            self.fetches += 1
            try:
                keys = parse_jwks(await self._fetch(), source=_shown(self.url))
            except (httpx.HTTPError, ValueError) as exc:
                log.warning(
                    "fetching the JWKS at %s failed (%s); keeping the %d keys cached",
                    _shown(self.url),
                    _reason(exc),
                    len(self._keys),
                )
                return
            self._keys = keys
            self._fetched_at = now

    async def _fetch(self) -> Any:
        # through the address guard like every outbound call (the issuer's host is
        # configured, so it is let through; redirects are not followed)
        policy = AddressPolicy(declared=frozenset({httpx.URL(self.url).host}))
        async with guarded_client(policy, timeout=self.timeout, inner=self._transport) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()


def parse_jwks(document: Any, *, source: str) -> dict[str, VerificationKey]:
    """The usable signing keys of a JWKS document, by ``kid``; anything else is skipped
    (and counted in the log), never trusted."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the document has no 'keys' list")
    keys: dict[str, VerificationKey] = {}
    for entry in entries:
        found = _signing_key(entry)
        if found is not None:
            keys[found.kid] = found
    if len(keys) < len(entries):
        log.info(
            "the JWKS at %s has %d keys that are not asymmetric signing keys with a kid;"
            " they are ignored",
            source,
            len(entries) - len(keys),
        )
    return keys


def _signing_key(entry: Any) -> VerificationKey | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
        return None
    if entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
        return None
    if "alg" in entry and entry["alg"] not in ASYMMETRIC:
        return None
    try:
        parsed = jwt.PyJWK(entry)
    except (jwt.PyJWKError, jwt.InvalidKeyError):
        return None
    if parsed.algorithm_name not in ASYMMETRIC:
        return None
    return VerificationKey(entry["kid"], parsed.algorithm_name, parsed.key)


def _shown(url: str) -> str:
    """``url`` without user info, query or fragment: what may appear in a log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__
    return f"not a JWKS document: {type(exc).__name__}"
