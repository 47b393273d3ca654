"""RemoteJwks and BearerTokens with an external issuer, simulated as a real HTTP server on
127.0.0.1: its tokens verify, its key set is cached, refetched on an unknown kid no more
often than the floor, and kept when the issuer is down."""

from __future__ import annotations

import asyncio
import logging

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from token_kit import EXTERNAL_ISSUER, ExternalIssuer, b64url, serving

from artery.clock import ManualClock
from artery.config import Settings
from artery.errors import ConfigError, Unauthenticated
from artery.gateway.auth.bearer import BearerTokens, external_keys
from artery.gateway.auth.jwks import RemoteJwks, parse_jwks


def external_only(
    external: ExternalIssuer, clock: ManualClock, **options: float
) -> tuple[BearerTokens, RemoteJwks]:
    settings = Settings(external_issuer=EXTERNAL_ISSUER, external_jwks_url=external.url)
    keys = RemoteJwks(external.url, clock=clock, **options)
    return BearerTokens(settings, None, keys, clock=clock), keys


async def refused(bearer: BearerTokens, token: str, reason: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await bearer.verify(token)
    assert reason in caught.value.message
    assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]


async def test_external_rs256_token_verifies_with_a_principal_per_client(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, _ = external_only(external, clock)
    principal = await bearer.verify(external.sign("rsa-1"))
    assert principal.subject == "svc-billing"
    assert principal.credential == f"token:{EXTERNAL_ISSUER}#billing-app"
    assert principal.scopes == frozenset({"orders:read", "orders:write"})


async def test_external_es256_token_with_space_separated_scopes_verifies(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    external.add_key("ec-1", "EC")
    bearer, _ = external_only(external, clock)
    token = external.sign("ec-1", scp=None, scope="a:read  b:write")
    assert (await bearer.verify(token)).scopes == frozenset({"a:read", "b:write"})


async def test_external_token_is_checked_like_any_other(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, _ = external_only(external, clock)
    await refused(bearer, external.sign("rsa-1", aud="someone-else"), "audience")
    await refused(bearer, external.sign("rsa-1", typ="JWT", nonce="n"), "not an access token")
    await refused(bearer, external.sign("rsa-1", exp=int(clock.now()) - 31), "expired")
    await refused(bearer, external.sign("rsa-1", jti=None), "required claim jti")
    await refused(bearer, external.sign("rsa-1", iss="https://other.test"), "not trusted")


async def test_token_whose_algorithm_differs_from_its_key_is_refused(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, _ = external_only(external, clock)
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        external.claims(), stranger, algorithm="ES256", headers={"typ": "at+jwt", "kid": "rsa-1"}
    )
    await refused(bearer, token, "does not match its key")


async def test_symmetric_and_encryption_keys_in_the_jwks_are_never_used(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    secret = b"shared-secret-the-attacker-knows"
    external.extra = [
        {"kty": "oct", "kid": "hmac", "k": b64url(secret)},
        {"kty": "oct", "kid": "hmac-alg", "k": b64url(secret), "alg": "HS256", "use": "sig"},
        {**external.jwk("rsa-1"), "kid": "enc-1", "use": "enc"},
    ]
    assert set(parse_jwks({"keys": [external.jwk("rsa-1"), *external.extra]}, source="t")) == {
        "rsa-1"
    }
    bearer, _ = external_only(external, clock)
    for kid in ("hmac", "hmac-alg"):
        hs = jwt.encode(
            external.claims(), secret, algorithm="HS256", headers={"typ": "at+jwt", "kid": kid}
        )
        await refused(bearer, hs, "signing algorithm is not accepted")
    enc = external.sign("rsa-1")
    rest = enc.split(".", 1)[1]
    relabelled = b64url({"alg": "RS256", "typ": "at+jwt", "kid": "enc-1"}) + "." + rest
    await refused(bearer, relabelled, "signing key (kid) is unknown")


async def test_unknown_kid_refetches_the_key_set(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, keys = external_only(external, clock, refetch_floor=30)
    assert await bearer.verify(external.sign("rsa-1"))
    assert (external.hits, keys.fetches) == (1, 1)
    assert await bearer.verify(external.sign("rsa-1"))
    assert external.hits == 1  # cached

    external.add_key("rsa-2")  # the issuer rotates
    clock.advance(30)
    assert await bearer.verify(external.sign("rsa-2"))
    assert external.hits == 2


async def test_refetches_for_unknown_kids_are_no_more_often_than_the_floor(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, _ = external_only(external, clock, refetch_floor=30)
    assert await bearer.verify(external.sign("rsa-1"))
    external.add_key("rsa-2")

    await refused(bearer, external.sign("rsa-2"), "signing key (kid) is unknown")
    external.add_key("made-up", publish=False)
    for _ in range(20):
        await refused(bearer, external.sign("made-up"), "signing key (kid) is unknown")
    clock.advance(29)
    await refused(bearer, external.sign("rsa-2"), "signing key (kid) is unknown")
    assert external.hits == 1

    clock.advance(1)
    assert await bearer.verify(external.sign("rsa-2"))
    assert external.hits == 2


async def test_concurrent_tokens_with_a_new_kid_share_one_fetch(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    bearer, _ = external_only(external, clock, refetch_floor=30)
    principals = await asyncio.gather(*(bearer.verify(external.sign("rsa-1")) for _ in range(10)))
    assert len(principals) == 10
    assert external.hits == 1


async def test_key_dropped_by_the_issuer_is_refused_once_the_cache_ages(
    external: ExternalIssuer, clock: ManualClock
) -> None:
    external.add_key("rsa-2")
    bearer, _ = external_only(external, clock, refetch_floor=30, max_age=600)
    token = external.sign("rsa-1", exp=int(clock.now()) + 3600)
    assert await bearer.verify(token)

    external.published.remove("rsa-1")  # revoked at the issuer
    clock.advance(599)
    assert await bearer.verify(token)
    clock.advance(2)
    await refused(bearer, token, "signing key (kid) is unknown")


async def test_issuer_down_keeps_the_cached_keys_and_logs_without_secrets(
    external: ExternalIssuer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    url = external.url.replace("http://", "http://user:pa55word@") + "?api_key=s3cret"
    settings = Settings(external_issuer=EXTERNAL_ISSUER, external_jwks_url=url)
    keys = RemoteJwks(url, clock=clock, refetch_floor=30, max_age=60)
    bearer = BearerTokens(settings, None, keys, clock=clock)
    token = external.sign("rsa-1", exp=int(clock.now()) + 3600)
    assert await bearer.verify(token)

    assert external.server is not None
    await external.server.stop()
    clock.advance(61)
    with caplog.at_level(logging.WARNING, logger="artery.gateway.auth"):
        assert await bearer.verify(token)  # stale, refetch failed, cached key still good
    assert keys.fetches == 2
    (record,) = [r for r in caplog.records if "JWKS" in r.getMessage()]
    message = record.getMessage()
    assert "ConnectError" in message and "keeping the 1 keys cached" in message
    assert "/jwks.json" in message
    assert "pa55word" not in message and "s3cret" not in message

    external.add_key("rsa-2", publish=False)
    clock.advance(30)
    await refused(bearer, external.sign("rsa-2"), "signing key (kid) is unknown")


async def test_issuer_answering_garbage_keeps_the_cached_keys(clock: ManualClock) -> None:
    idp = ExternalIssuer(clock)
    idp.add_key("rsa-1")
    answers: list[Response] = []

    async def jwks(request: Request) -> Response:
        return answers.pop(0) if answers else await idp.jwks(request)

    async with serving(Starlette(routes=[Route("/jwks.json", jwks)])) as base:
        idp.url = base + "/jwks.json"
        bearer, keys = external_only(idp, clock, refetch_floor=1, max_age=5)
        token = idp.sign("rsa-1", exp=int(clock.now()) + 3600)
        assert await bearer.verify(token)
        answers.extend(
            [
                PlainTextResponse("oops", status_code=500),
                PlainTextResponse("not json"),
                JSONResponse({"no": "keys"}),
            ]
        )
        for _ in range(3):
            clock.advance(6)
            assert await bearer.verify(token)
        assert keys.fetches == 4


def test_external_issuer_without_a_jwks_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="external_jwks_url"):
        external_keys(Settings(external_issuer=EXTERNAL_ISSUER, external_jwks_url=""))
    assert external_keys(Settings()) is None
    found = external_keys(
        Settings(external_issuer=EXTERNAL_ISSUER, external_jwks_url="https://idp.test/jwks")
    )
    assert found is not None and found.url == "https://idp.test/jwks"
