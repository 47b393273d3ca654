"""Verifying a bearer JWT access token: this gateway's own, or one external issuer's.

A token is accepted only when all of these hold, checked in this order; the first that
fails refuses it with ``Unauthenticated`` and an RFC 6750 §3 challenge
(``WWW-Authenticate: Bearer realm="artery", error="invalid_token", error_description=...``):

1. it is a compact JWS of reasonable size whose header and claims parse;
2. ``alg`` is not ``none``;
3. ``typ`` is ``at+jwt`` (RFC 9068 §4): an ID token (``typ: JWT``) is not an access token;
4. ``iss`` names a trusted issuer: this gateway (``TokenIssuer.issuer``) or
   ``settings.external_issuer``;
5. ``alg`` is one that issuer is pinned to -- ES256 for this gateway's tokens, the
   asymmetric ``jwks.ASYMMETRIC`` for the external one -- and equals the algorithm of the
   key named by ``kid``. The header never chooses the algorithm, so an HS256 token "signed"
   with a public key (algorithm confusion) is refused;
6. ``kid`` names a key of that issuer (the key set is reread once on an unknown ``kid``);
7. the signature verifies; ``aud`` holds ``settings.token_audience``; the RFC 9068 §2.2
   claims ``iss exp aud sub client_id iat jti`` are present;
8. ``exp`` is not past and ``nbf`` / ``iat`` are not in the future, each forgiving
   ``leeway`` seconds (30 by default) of clock skew between issuer and gateway. Times are
   read from the runtime's clock, the one the rest of Artery uses.

The principal: ``subject`` = ``sub``; ``credential`` = ``client:<client_id>`` for this
gateway's tokens (the client is an API key's prefix, so decisions name the key behind the
token) and ``token:<iss>#<client_id>`` for an external issuer's (each external client is
rate-limited and traced apart); ``scopes`` from ``scope`` (space-separated, RFC 9068) or
``scp`` (a list or a string, as some issuers write it).

No message, header or log holds the token or any of its claims' values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from artery.clock import Clock, SystemClock
from artery.config import Settings
from artery.errors import ArteryError, ConfigError, Unauthenticated
from artery.gateway.auth.jwks import ASYMMETRIC, RemoteJwks, VerificationKey
from artery.gateway.auth.tokens import ALGORITHM, LEEWAY, TokenIssuer
from artery.gateway.policy import Principal

MAX_TOKEN = 8192  # characters; a longer "token" is refused before it is parsed
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]


class KeySource(Protocol):
    async def key(self, kid: str) -> VerificationKey | None:
        """The issuer's key named ``kid``, or None when it has none by that name."""
        ...


@dataclass(frozen=True)
class _Trusted:
    issuer: str
    keys: KeySource
    algorithms: frozenset[str]
    own: bool


def external_keys(settings: Settings, clock: Clock | None = None) -> RemoteJwks | None:
    """The external issuer's key set as configured, or None when there is no such issuer."""
    if not settings.external_issuer:
        return None
    if not settings.external_jwks_url.startswith(("https://", "http://")):
        raise ConfigError(
            "external_issuer is set but external_jwks_url is not an http(s) URL",
            fix="set external_jwks_url (ARTERY_EXTERNAL_JWKS_URL) to the issuer's JWKS URL",
        )
    return RemoteJwks(settings.external_jwks_url, clock=clock)


class BearerTokens:
    """Verifies access tokens of this gateway (``own``) and of one external issuer."""

    def __init__(
        self,
        settings: Settings,
        own: TokenIssuer | None,
        external: KeySource | None = None,
        *,
        clock: Clock | None = None,
        leeway: float = LEEWAY,
    ) -> None:
        if external is not None and not settings.external_issuer:
            raise ConfigError(
                "an external key set was given but external_issuer is empty",
                fix="set external_issuer (ARTERY_EXTERNAL_ISSUER) to the issuer's iss value",
            )
        self.settings = settings
        self.own = own
        self.external = external
        self.leeway = leeway
        self._clock = clock or SystemClock()

    async def verify(self, token: str) -> Principal:
        """The caller ``token`` proves; raises ``Unauthenticated`` saying why it does not."""
        header, unverified = _parse(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise _refused("the token is not signed (alg none)")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise _refused(
                "the token is not an access token (its typ is not at+jwt)",
                fix="send an access token, not an ID token",
            )
        trusted = self._trusted(unverified.get("iss"))
        if alg not in trusted.algorithms:
            raise _refused("the token's signing algorithm is not accepted from its issuer")
        kid = header.get("kid")
        key = await trusted.keys.key(kid) if isinstance(kid, str) and kid else None
        if key is None:
            raise _refused("the token's signing key (kid) is unknown")
        if key.algorithm != alg:
            raise _refused("the token's signing algorithm does not match its key")
        claims = self._decode(token, key, trusted)
        self._check_times(claims)
        return _principal(claims, trusted)

    def _trusted(self, issuer: Any) -> _Trusted:
        if isinstance(issuer, str) and issuer:
            if self.own is not None and issuer == _own_issuer(self.own):
                return _Trusted(issuer, self.own, frozenset({ALGORITHM}), own=True)
            if self.external is not None and issuer == self.settings.external_issuer:
                return _Trusted(issuer, self.external, ASYMMETRIC, own=False)
        raise _refused("the token's issuer (iss) is not trusted here")

    def _decode(self, token: str, key: VerificationKey, trusted: _Trusted) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.settings.token_audience,
                issuer=trusted.issuer,
                options={
                    "require": REQUIRED,
                    "verify_exp": False,  # checked by _check_times, on the runtime's clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise _refused("the token's signature does not verify") from None
        except jwt.InvalidAudienceError:
            raise _refused("the token is not meant for this audience (aud)") from None
        except jwt.InvalidIssuerError:
            raise _refused("the token's issuer (iss) is not trusted here") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refused(f"the token lacks the required claim {exc.claim}") from None
        except jwt.InvalidTokenError:
            raise _refused("the token's claims are malformed") from None

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        times: dict[str, float] = {}
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and not _number(value):
                raise _refused(f"the token's {name} is not a NumericDate")
            if value is not None:
                times[name] = float(value)
        if times["exp"] <= now - self.leeway:
            raise _refused("the token has expired", fix="request a new access token")
        for name in ("nbf", "iat"):
            if times.get(name, now) > now + self.leeway:
                raise _refused(f"the token is not valid yet ({name} is in the future)")


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and unverified claims, both JSON objects, or a refusal."""
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise _refused("the token is not a compact JWT")
    try:
        decoded = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _refused("the token is not a compact JWT") from None
    header, claims = decoded["header"], decoded["payload"]
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _refused("the token is not a compact JWT")
    return header, claims


def _own_issuer(own: TokenIssuer) -> str | None:
    try:
        return own.issuer
    except ArteryError:
        return None  # no issuer name yet: this gateway has issued no token


def _number(value: Any) -> bool:
    """A finite JSON number (``true`` is not one, though Python says bool is an int)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) < 2**63 if isinstance(value, int) else math.isfinite(value)


def _principal(claims: Mapping[str, Any], trusted: _Trusted) -> Principal:
    subject, client_id = claims["sub"], claims["client_id"]
    if not isinstance(subject, str) or not isinstance(client_id, str):
        raise _refused("the token's sub or client_id is not a string")
    credential = f"client:{client_id}" if trusted.own else f"token:{trusted.issuer}#{client_id}"
    return Principal(subject, credential, _scopes(claims))


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (RFC 9068: space-separated) or ``scp`` (a list, or a string)."""
    found = claims.get("scope", claims.get("scp"))
    if isinstance(found, str):
        return frozenset(found.split())
    if isinstance(found, list) and all(isinstance(s, str) for s in found):
        return frozenset(found)
    if found is None:
        return frozenset()
    raise _refused("the token's scope claim is neither a string nor a list of strings")


def _refused(reason: str, *, fix: str | None = None) -> Unauthenticated:
    """An RFC 6750 ``invalid_token`` refusal. ``reason`` is one of this module's fixed
    sentences (never a token value), so it is safe inside the quoted challenge."""
    challenge = f'Bearer realm="artery", error="invalid_token", error_description="{reason}"'
    return Unauthenticated(
        reason,
        fix=fix or "request a new access token from POST /oauth/token or your issuer",
        headers={"WWW-Authenticate": challenge},
    )
