"""The token endpoint and the JWKS over real HTTP: an API key is exchanged for an access
token (RFC 6749 client credentials), the token opens admin routes its scopes allow, every
token request is a recorded decision, and the JWKS verifies what was issued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from token_kit import EXTERNAL_ISSUER, ExternalIssuer, b64url

from artery import App, Listen
from artery.config import Settings
from support import api_key, bearer, eventually

CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


@pytest.fixture
async def app(store_url: str) -> AsyncIterator[App]:
    app = App("token-test", store=store_url)
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        yield app


@pytest.fixture
async def http(app: App) -> AsyncIterator[httpx.AsyncClient]:
    assert app.http is not None
    async with httpx.AsyncClient(base_url=app.http.url, timeout=10) as client:
        yield client


def prefix(key: str) -> str:
    return key[: len("ak_") + 8]


async def token_for(http: httpx.AsyncClient, key: str, scope: str | None = None) -> str:
    form = dict(CLIENT_CREDENTIALS, **({"scope": scope} if scope else {}))
    response = await http.post("/oauth/token", data=form, auth=(prefix(key), key))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_an_api_key_buys_an_access_token_that_opens_admin_routes(
    app: App, http: httpx.AsyncClient
) -> None:
    key = await api_key(app, "admin:read", "admin:write")

    response = await http.post("/oauth/token", data=CLIENT_CREDENTIALS, auth=(prefix(key), key))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "admin:read admin:write"
    token = body["access_token"]
    assert key not in response.text
    claims = jwt.decode(token, options={"verify_signature": False})
    assert app.http is not None and claims["iss"] == app.http.url
    assert claims["sub"] == claims["client_id"] == prefix(key)

    listed = await http.get("/admin/decisions", headers=bearer(token))
    assert listed.status_code == 200
    assert (await http.get("/admin/decisions")).status_code == 401


async def test_a_token_carries_only_the_scopes_asked_for(app: App, http: httpx.AsyncClient) -> None:
    key = await api_key(app, "admin:read", "admin:write")
    form = {**CLIENT_CREDENTIALS, "client_id": prefix(key), "client_secret": key}
    response = await http.post("/oauth/token", data={**form, "scope": "admin:read"})
    assert response.json()["scope"] == "admin:read"
    reader = bearer(response.json()["access_token"])

    assert (await http.get("/admin/decisions", headers=reader)).status_code == 200
    refused = await http.post("/admin/dead-letters/redrive", json={"group": "g"}, headers=reader)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


async def test_a_scope_the_key_lacks_is_invalid_scope(app: App, http: httpx.AsyncClient) -> None:
    key = await api_key(app, "admin:read")
    for scope in ("admin:destroy", "admin:read admin:write", 'admin:"read'):
        form = {**CLIENT_CREDENTIALS, "scope": scope}
        response = await http.post("/oauth/token", data=form, auth=(prefix(key), key))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"
        assert response.headers["cache-control"] == "no-store"


async def test_a_wrong_or_missing_client_is_invalid_client_with_a_basic_challenge(
    app: App, http: httpx.AsyncClient
) -> None:
    key = await api_key(app, "admin:read")
    other = await api_key(app, "admin:read")
    wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    attempts: list[dict[str, Any]] = [
        {"auth": (prefix(key), wrong_secret)},
        {"auth": (prefix(other), key)},  # a secret presented under another key's id
        {"auth": ("ak_00000000", "ak_00000000_" + "x" * 43)},
        {},  # no credentials at all
        {"headers": {"Authorization": "Basic !!!not-base64"}},
        {"headers": {"Authorization": f"Bearer {key}"}},
    ]
    for attempt in attempts:
        response = await http.post("/oauth/token", data=CLIENT_CREDENTIALS, **attempt)
        assert response.status_code == 401, attempt
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith('Basic realm="artery"')
        assert key not in response.text and wrong_secret not in response.text


@pytest.mark.parametrize(
    ("request_options", "error"),
    [
        ({"data": {"grant_type": "password"}}, "unsupported_grant_type"),
        ({"data": {"grant_type": "authorization_code", "code": "x"}}, "unsupported_grant_type"),
        ({"data": {"scope": "admin:read"}}, "invalid_request"),
        ({"json": CLIENT_CREDENTIALS}, "invalid_request"),
        ({"content": b"grant_type=client_credentials&grant_type=password"}, "invalid_request"),
    ],
)
async def test_malformed_token_requests_get_rfc6749_errors(
    app: App, http: httpx.AsyncClient, request_options: dict[str, Any], error: str
) -> None:
    key = await api_key(app, "admin:read")
    options = dict(request_options)
    if "content" in options:
        options["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await http.post("/oauth/token", auth=(prefix(key), key), **options)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error and body["status"] == 400
    assert body["type"].endswith(f"oauth.{error}")
    assert body["error_description"]


async def test_basic_and_form_credentials_together_are_refused(
    app: App, http: httpx.AsyncClient
) -> None:
    key = await api_key(app, "admin:read")
    form = {**CLIENT_CREDENTIALS, "client_id": prefix(key), "client_secret": key}
    response = await http.post("/oauth/token", data=form, auth=(prefix(key), key))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_every_token_request_is_recorded_as_a_decision(
    app: App, http: httpx.AsyncClient
) -> None:
    key = await api_key(app, "admin:read")
    await token_for(http, key)
    await http.post("/oauth/token", data=CLIENT_CREDENTIALS, auth=(prefix(key), key + "x"))
    form = {**CLIENT_CREDENTIALS, "scope": "admin:write"}
    await http.post("/oauth/token", data=form, auth=(prefix(key), key))
    auditor = bearer(await api_key(app, "admin:read"))

    async def token_decisions() -> list[dict[str, Any]]:
        response = await http.get("/admin/decisions", headers=auditor)
        return [d for d in response.json()["decisions"] if d["route"] == "POST /oauth/token"]

    async def all_three() -> bool:
        return len(await token_decisions()) == 3

    await eventually(all_three, "three token decisions recorded")
    refused_scope, bad_secret, granted = await token_decisions()
    assert (granted["outcome"], granted["credential"]) == ("allowed", f"key:{prefix(key)}")
    assert granted["scopes"] == ["admin:read"] and granted["reason"] == "token issued"
    assert (bad_secret["outcome"], bad_secret["credential"]) == ("refused", None)
    assert bad_secret["reason"].startswith("invalid_client")
    assert refused_scope["reason"].startswith("invalid_scope")
    assert refused_scope["scopes"] == ["admin:write"]


async def test_jwks_is_public_and_verifies_the_tokens_issued(
    app: App, http: httpx.AsyncClient
) -> None:
    token = await token_for(http, await api_key(app, "admin:read"))

    response = await http.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert "d" not in key
    assert key["kid"] == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["ES256"], audience="artery", leeway=5
    )
    assert claims["scope"] == "admin:read"


async def signing_key(app: App) -> tuple[str, Any]:
    row = await app.store.read(
        lambda tx: tx.one("SELECT kid, private_pem FROM signing_keys WHERE retire_at IS NULL")
    )
    assert row is not None
    return str(row[0]), serialization.load_pem_private_key(row[1].encode(), None)


async def test_forged_or_wrong_kind_of_token_is_refused_on_admin_routes(
    app: App, http: httpx.AsyncClient
) -> None:
    token = await token_for(http, await api_key(app, "admin:read"))
    kid, private = await signing_key(app)
    claims = jwt.decode(token, options={"verify_signature": False})
    id_token = jwt.encode(
        {**claims, "nonce": "n", "auth_time": claims["iat"]},
        private,
        algorithm="ES256",
        headers={"typ": "JWT", "kid": kid},
    )
    unsigned = f"{b64url({'alg': 'none', 'typ': 'at+jwt'})}.{b64url(claims)}."
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = forge_hs256(claims, kid, public_pem)
    elsewhere = jwt.encode(
        {**claims, "aud": "another-api"}, private, "ES256", headers={"typ": "at+jwt", "kid": kid}
    )
    for forged, reason in [
        (id_token, "not an access token"),
        (unsigned, "not signed"),
        (confused, "algorithm is not accepted"),
        (elsewhere, "audience"),
    ]:
        response = await http.get("/admin/decisions", headers=bearer(forged))
        assert response.status_code == 401, reason
        assert response.headers["content-type"].startswith("application/problem+json")
        challenge = response.headers["www-authenticate"]
        assert 'error="invalid_token"' in challenge and reason in challenge
        assert reason in response.json()["detail"]
        assert forged not in response.text


def forge_hs256(claims: dict[str, Any], kid: str, secret: bytes) -> str:
    signing_input = f"{b64url({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}.{b64url(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_an_external_issuers_token_opens_admin_routes_its_scopes_allow(
    store_url: str, external: ExternalIssuer
) -> None:
    settings = Settings(
        store=store_url, external_issuer=EXTERNAL_ISSUER, external_jwks_url=external.url
    )
    app = App("external-test", settings=settings)
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        async with httpx.AsyncClient(base_url=app.http.url, timeout=10) as http:
            now = int(time.time())
            reader = external.sign("rsa-1", scp=["admin:read"], iat=now, exp=now + 60)
            response = await http.get("/admin/decisions", headers=bearer(reader))
            assert response.status_code == 200, response.text
            refused = await http.post(
                "/admin/dead-letters/redrive", json={"group": "g"}, headers=bearer(reader)
            )
            assert refused.status_code == 403
            expired = external.sign("rsa-1", scp=["admin:read"], iat=now - 600, exp=now - 300)
            late = await http.get("/admin/decisions", headers=bearer(expired))
            assert late.status_code == 401 and "expired" in late.headers["www-authenticate"]
