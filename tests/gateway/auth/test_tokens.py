"""TokenIssuer: RFC 9068 access tokens, signing keys in the store, rotation with overlap."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
from token_kit import OWN_ISSUER

from artery.clock import ManualClock
from artery.config import Settings
from artery.errors import ConfigError
from artery.gateway.auth.tokens import TokenIssuer, thumbprint
from artery.store import SqlStore, open_store


async def signing_rows(store: SqlStore) -> list[tuple[str, int | None]]:
    rows = await store.read(
        lambda tx: tx.execute("SELECT kid, retire_at FROM signing_keys ORDER BY created_at")
    )
    return [(str(kid), retire) for kid, retire in rows]


async def test_issued_token_is_an_rfc9068_access_token(
    issuer: TokenIssuer, clock: ManualClock
) -> None:
    issued = await issuer.issue("ak_client1", ["orders:write", "orders:read"])

    header = jwt.get_unverified_header(issued.access_token)
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": issued.kid}
    (public,) = (await issuer.jwks())["keys"]
    claims = jwt.decode(
        issued.access_token,
        jwt.PyJWK(public).key,
        algorithms=["ES256"],
        audience="artery",
        issuer=OWN_ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    now = int(clock.now())
    assert claims["sub"] == claims["client_id"] == "ak_client1"
    assert (claims["iat"], claims["exp"]) == (now, now + 300)
    assert claims["scope"] == "orders:read orders:write"
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert issued.expires_in == 300
    assert issued.scope == ("orders:read", "orders:write")


async def test_every_token_has_its_own_jti_and_one_key_signs_them(issuer: TokenIssuer) -> None:
    first = await issuer.issue("ak_a", [])
    second = await issuer.issue("ak_a", [])
    claims = [
        jwt.decode(t.access_token, options={"verify_signature": False}) for t in (first, second)
    ]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert "scope" not in claims[0]  # none granted: no scope claim
    assert first.kid == second.kid


async def test_jwks_publishes_public_keys_only_and_creates_the_first_key(
    issuer: TokenIssuer, store: SqlStore
) -> None:
    document = await issuer.jwks()

    (key,) = document["keys"]
    assert {"kty", "crv", "x", "y", "kid", "use", "alg"} == set(key)
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert key["kid"] == thumbprint(key)
    assert [kid for kid, _ in await signing_rows(store)] == [key["kid"]]
    assert "PRIVATE" not in json.dumps(document)


async def test_issuer_is_the_gateway_url_when_token_issuer_is_empty(
    store: SqlStore, clock: ManualClock
) -> None:
    settings = Settings(token_issuer="")
    issuer = TokenIssuer(store, settings, base_url=lambda: "http://127.0.0.1:8123/", clock=clock)
    token = (await issuer.issue("ak_x", [])).access_token
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "http://127.0.0.1:8123"

    nameless = TokenIssuer(store, settings, clock=clock)
    with pytest.raises(ConfigError, match="token_issuer"):
        await nameless.issue("ak_x", [])


async def test_key_rotates_when_older_than_the_rotation_period(
    issuer: TokenIssuer, store: SqlStore, clock: ManualClock
) -> None:
    first = await issuer.issue("ak_a", [])
    clock.advance(3599)
    assert (await issuer.issue("ak_a", [])).kid == first.kid

    clock.advance(1)
    second = await issuer.issue("ak_a", [])

    assert second.kid != first.kid
    rows = dict(await signing_rows(store))
    assert rows[second.kid] is None
    overlap_us = (2 * 300 + 30) * 1_000_000
    assert rows[first.kid] == clock.now_us() + overlap_us
    assert {k["kid"] for k in (await issuer.jwks())["keys"]} == {first.kid, second.kid}


async def test_replaced_key_is_unpublished_after_the_overlap_and_deleted_later(
    issuer: TokenIssuer, store: SqlStore, clock: ManualClock
) -> None:
    first = await issuer.issue("ak_a", [])
    clock.advance(3600)
    second = await issuer.issue("ak_a", [])

    clock.advance(2 * 300 + 30 - 1)
    issuer.cache_for = 0
    assert {k["kid"] for k in (await issuer.jwks())["keys"]} == {first.kid, second.kid}
    assert await issuer.key(first.kid) is not None
    clock.advance(1)
    assert {k["kid"] for k in (await issuer.jwks())["keys"]} == {second.kid}
    assert await issuer.key(first.kid) is None

    clock.advance(3600)  # the next rotation deletes the retired key, private half and all
    third = await issuer.issue("ak_a", [])
    assert [kid for kid, _ in await signing_rows(store)] == [second.kid, third.kid]


async def test_two_processes_rotating_at_once_make_one_key(
    store_url: str, settings: Settings, clock: ManualClock
) -> None:
    stores = [await open_store(store_url) for _ in range(2)]
    try:
        issuers = [TokenIssuer(s, settings, clock=clock) for s in stores]
        first = await issuers[0].issue("ak_a", [])
        assert (await issuers[1].issue("ak_a", [])).kid == first.kid

        clock.advance(3600)
        issued = await asyncio.gather(*(i.issue("ak_a", []) for i in issuers * 4))

        assert len({t.kid for t in issued}) == 1
        rows = await signing_rows(stores[0])
        assert len(rows) == 2
        assert [retire is None for _, retire in rows] == [False, True]
    finally:
        for s in stores:
            await s.close()


async def test_a_fresh_store_meeting_two_processes_at_once_gets_one_first_key(
    store_url: str, settings: Settings, clock: ManualClock
) -> None:
    stores = [await open_store(store_url) for _ in range(3)]
    try:
        issuers = [TokenIssuer(s, settings, clock=clock) for s in stores]
        issued = await asyncio.gather(*(i.issue("ak_a", []) for i in issuers))
        assert len({t.kid for t in issued}) == 1
        assert len(await signing_rows(stores[0])) == 1
    finally:
        for s in stores:
            await s.close()
