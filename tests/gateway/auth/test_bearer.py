"""BearerTokens: this gateway's own access tokens accepted, every kind of bad token refused
with an RFC 6750 challenge, each bad token crafted by hand."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from token_kit import OWN_ISSUER, b64url

from artery.clock import ManualClock
from artery.config import Settings
from artery.errors import Unauthenticated
from artery.gateway.auth.bearer import BearerTokens
from artery.gateway.auth.tokens import TokenIssuer
from artery.gateway.policy import Principal
from artery.store import SqlStore


@pytest.fixture
def bearer(settings: Settings, issuer: TokenIssuer, clock: ManualClock) -> BearerTokens:
    return BearerTokens(settings, issuer, clock=clock)


async def active_key(
    issuer: TokenIssuer, store: SqlStore
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The signing key's kid and private half, as an attacker who read it could use it."""
    await issuer.jwks()
    row = await store.read(
        lambda tx: tx.one("SELECT kid, private_pem FROM signing_keys WHERE retire_at IS NULL")
    )
    assert row is not None
    private = serialization.load_pem_private_key(row[1].encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return str(row[0]), private


def own_claims(clock: ManualClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.now())
    claims: dict[str, Any] = {
        "iss": OWN_ISSUER,
        "aud": "artery",
        "sub": "ak_client1",
        "client_id": "ak_client1",
        "iat": now,
        "exp": now + 300,
        "jti": "jti-1",
        "scope": "admin:read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def refused(bearer: BearerTokens, token: str, reason: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await bearer.verify(token)
    error = caught.value
    assert reason in error.message
    challenge = error.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="artery", error="invalid_token"')
    assert f'error_description="{error.message}"' in challenge
    assert token not in str(error) and token not in challenge
    return error


async def test_own_token_gives_the_client_as_principal(
    issuer: TokenIssuer, bearer: BearerTokens
) -> None:
    issued = await issuer.issue("ak_client1", ["admin:read", "orders:write"])
    principal = await bearer.verify(issued.access_token)
    assert principal == Principal(
        "ak_client1", "client:ak_client1", frozenset({"admin:read", "orders:write"})
    )


async def test_unsigned_token_is_refused(bearer: BearerTokens, clock: ManualClock) -> None:
    for alg in ("none", "None", "NONE"):
        token = f"{b64url({'alg': alg, 'typ': 'at+jwt'})}.{b64url(own_claims(clock))}."
        await refused(bearer, token, "not signed (alg none)")


async def test_hs256_token_signed_with_the_public_key_is_refused(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock
) -> None:
    kid, private = await active_key(issuer, store)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url({"alg": "HS256", "typ": "at+jwt", "kid": kid})
    payload = b64url(own_claims(clock))
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64url(signature)}"
    await refused(bearer, token, "signing algorithm is not accepted")


async def test_token_of_another_asymmetric_algorithm_is_refused(
    bearer: BearerTokens, clock: ManualClock, issuer: TokenIssuer, store: SqlStore
) -> None:
    kid, _ = await active_key(issuer, store)
    stranger = ec.generate_private_key(ec.SECP384R1())
    token = jwt.encode(
        own_claims(clock), stranger, algorithm="ES384", headers={"typ": "at+jwt", "kid": kid}
    )
    await refused(bearer, token, "signing algorithm is not accepted")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "another-api"}, "not meant for this audience"),
        ({"aud": ["another-api", "billing"]}, "not meant for this audience"),
        ({"iss": "https://evil.example.test"}, "issuer (iss) is not trusted"),
        ({"iss": None}, "issuer (iss) is not trusted"),
        ({"client_id": None}, "lacks the required claim client_id"),
        ({"jti": None}, "lacks the required claim jti"),
        ({"sub": None}, "lacks the required claim sub"),
        ({"exp": None}, "lacks the required claim exp"),
        ({"iat": None}, "lacks the required claim iat"),
        ({"aud": None}, "lacks the required claim aud"),
        ({"exp": "tomorrow"}, "exp is not a NumericDate"),
        ({"iat": True}, "iat is not a NumericDate"),
        ({"sub": 42}, "claims are malformed"),
        ({"client_id": 42}, "sub or client_id is not a string"),
        ({"scope": 7}, "scope claim is neither"),
    ],
)
async def test_token_with_bad_claims_is_refused(
    issuer: TokenIssuer,
    bearer: BearerTokens,
    store: SqlStore,
    clock: ManualClock,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    kid, private = await active_key(issuer, store)
    claims = own_claims(clock, **overrides)
    token = jwt.encode(claims, private, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid})
    await refused(bearer, token, reason)


async def test_expired_token_is_refused_after_the_leeway(
    issuer: TokenIssuer, bearer: BearerTokens, clock: ManualClock
) -> None:
    token = (await issuer.issue("ak_client1", [])).access_token
    clock.advance(300 + 29)
    assert (await bearer.verify(token)).subject == "ak_client1"  # within 30 s of skew
    clock.advance(1)
    error = await refused(bearer, token, "the token has expired")
    assert error.fix == "request a new access token"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_token_valid_only_in_the_future_is_refused(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock, claim: str
) -> None:
    kid, private = await active_key(issuer, store)
    now = int(clock.now())

    def signed(offset: int) -> str:
        claims = own_claims(clock, **{claim: now + offset}, exp=now + 900)
        return jwt.encode(claims, private, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid})

    assert await bearer.verify(signed(30))  # 30 s of leeway
    await refused(bearer, signed(31), f"not valid yet ({claim} is in the future)")


@pytest.mark.parametrize("typ", ["JWT", "jwt", None, "at+jwt-not", "id_token"])
async def test_id_token_or_untyped_token_is_not_an_access_token(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock, typ: str | None
) -> None:
    kid, private = await active_key(issuer, store)
    claims = own_claims(clock, nonce="n-0S6_WzA2Mj", auth_time=int(clock.now()), azp="ak_client1")
    headers: dict[str, Any] = {"kid": kid} if typ is None else {"kid": kid, "typ": typ}
    token = jwt.encode(claims, private, algorithm="ES256", headers=headers)
    if typ is None:  # PyJWT adds typ JWT by default: drop it by hand
        header = b64url({"alg": "ES256", "kid": kid})
        token = ".".join([header, *token.split(".")[1:]])
    await refused(bearer, token, "not an access token")


async def test_media_type_form_of_typ_is_accepted(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock
) -> None:
    kid, private = await active_key(issuer, store)
    headers = {"kid": kid, "typ": "application/at+jwt"}
    token = jwt.encode(own_claims(clock), private, algorithm="ES256", headers=headers)
    assert (await bearer.verify(token)).scopes == frozenset({"admin:read"})


async def test_token_naming_an_unknown_key_is_refused(
    bearer: BearerTokens, clock: ManualClock
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    for headers in ({"typ": "at+jwt", "kid": "no-such-key"}, {"typ": "at+jwt"}):
        token = jwt.encode(own_claims(clock), stranger, algorithm="ES256", headers=headers)
        await refused(bearer, token, "signing key (kid) is unknown")


async def test_token_signed_by_another_key_under_a_known_kid_is_refused(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock
) -> None:
    kid, _ = await active_key(issuer, store)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        own_claims(clock), forger, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid}
    )
    await refused(bearer, forged, "signature does not verify")

    genuine = (await issuer.issue("ak_client1", ["admin:read"])).access_token
    header, _, signature = genuine.split(".")
    widened = b64url(own_claims(clock, scope="admin:read admin:destroy"))
    await refused(bearer, f"{header}.{widened}.{signature}", "signature does not verify")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "a.b.c.d", "x" * 9000, "e30.e30.", "W10.W10.sig"],
)
async def test_malformed_token_is_refused(bearer: BearerTokens, token: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await bearer.verify(token)
    assert "invalid_token" in caught.value.headers["WWW-Authenticate"]


async def test_old_key_verifies_through_the_overlap_and_not_after(
    issuer: TokenIssuer, bearer: BearerTokens, store: SqlStore, clock: ManualClock
) -> None:
    old_kid, old_private = await active_key(issuer, store)
    lasting = jwt.encode(  # a token outliving its key, to show the key itself is dropped
        own_claims(clock, exp=int(clock.now()) + 10 * 3600),
        old_private,
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": old_kid},
    )
    clock.advance(3600)
    new = await issuer.issue("ak_client1", [])
    assert new.kid != old_kid

    assert await bearer.verify(lasting)
    assert await bearer.verify(new.access_token)
    clock.advance(2 * 300 + 30)
    await refused(bearer, lasting, "signing key (kid) is unknown")
    assert await bearer.verify((await issuer.issue("ak_client1", [])).access_token)


async def test_key_rotated_by_another_process_is_found_in_the_store(
    settings: Settings, store: SqlStore, clock: ManualClock
) -> None:
    ours, theirs = (TokenIssuer(store, settings, clock=clock) for _ in range(2))
    bearer = BearerTokens(settings, ours, clock=clock)
    assert await bearer.verify((await ours.issue("ak_a", [])).access_token)
    clock.advance(3600)
    rotated = await theirs.issue("ak_a", [])
    clock.advance(1)  # past the floor on rereading the table for an unknown kid
    assert (await bearer.verify(rotated.access_token)).credential == "client:ak_a"
