"""The OAuth2 token endpoint (client credentials) and the JWKS that verifies its tokens.

``POST /oauth/token`` is RFC 6749 §4.4: a client sends
``grant_type=client_credentials[&scope=a b]`` as ``application/x-www-form-urlencoded`` and
authenticates with HTTP Basic (``client_id:client_secret``, each form-encoded first, §2.3.1)
or with ``client_id`` and ``client_secret`` in the form -- one method, not both. The client
is an API key: ``client_id`` is its visible prefix, ``client_secret`` the whole key. The
token carries the scopes asked for, which must all be the key's (else ``invalid_scope``),
or all of the key's when none are asked for.

The answer is RFC 6749 §5.1 JSON with ``Cache-Control: no-store``. Errors are RFC 6749 §5.2
JSON (``error``, ``error_description``), which OAuth2 client libraries read; the same body
also carries the RFC 9457 members (``type``, ``title``, ``status``, ``detail``) every other
Artery error has. Every request, granted or refused, is recorded as an authorization
decision. Nothing of the secret is ever echoed, logged or recorded.

The route is public as far as the gate is concerned (it authenticates its client itself),
so the gate still applies the body limit and timeout; the client's rate limit is taken here,
once the client is known.

``GET /.well-known/jwks.json`` publishes the public keys of the signing keys not yet
retired, for anyone verifying this gateway's tokens.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from artery.errors import TooManyRequests, Unauthenticated
from artery.gateway.auth.tokens import TokenIssuer
from artery.gateway.gate import Decision, Gate, request_id
from artery.gateway.policy import Policy, Principal
from artery.gateway.problems import TYPE_BASE

TOKEN_ROUTE = "POST /oauth/token"
JWKS_ROUTE = "GET /.well-known/jwks.json"
TOKEN_POLICY = Policy(public=True, json_body=False, max_body=16 * 1024, timeout=10.0)
JWKS_POLICY = Policy(public=True, json_body=False, quota=None, timeout=10.0)
JWKS_MAX_AGE = 300  # seconds a verifier may reuse the key set; it refetches on a new kid
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3 scope-token


class ClientKeys(Protocol):
    async def verify(self, secret: str) -> Principal:
        """The principal of the API key ``secret`` (credential ``key:<prefix>``); raises
        ``Unauthenticated`` when it is unknown, expired or revoked."""
        ...


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer; ``description`` is a fixed sentence, never input."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="artery", charset="UTF-8"'
        body = {
            "error": self.error,
            "error_description": self.description,
            "type": f"{TYPE_BASE}oauth.{self.error}",
            "title": self.error.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.description,
        }
        return JSONResponse(body, status_code=self.status, headers=headers)


def routes(issuer: TokenIssuer, keys: ClientKeys, gate: Gate) -> list[BaseRoute]:
    """The token endpoint and the JWKS, each behind ``gate``."""
    endpoints = _Endpoints(issuer, keys, gate)
    return [
        Route(
            "/oauth/token",
            gate.guard(TOKEN_ROUTE, TOKEN_POLICY, endpoints.token),
            methods=["POST"],
            name="oauth-token",
        ),
        Route(
            "/.well-known/jwks.json",
            gate.guard(JWKS_ROUTE, JWKS_POLICY, endpoints.jwks),
            methods=["GET"],
            name="jwks",
        ),
    ]


class _Endpoints:
    def __init__(self, issuer: TokenIssuer, keys: ClientKeys, gate: Gate) -> None:
        self.issuer = issuer
        self.keys = keys
        self.gate = gate

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(
            await self.issuer.jwks(),
            headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"},
        )

    async def token(self, request: Request) -> Response:
        principal: Principal | None = None
        requested: tuple[str, ...] = ()
        try:
            form = await _form(request)
            client_id, secret = _client_credentials(request, form)
            principal = await self._authenticate(client_id, secret)
            _grant_type(form)
            requested = _requested_scopes(form)
            granted = _granted(requested, principal)
            limits = await self._throttle(principal)
            _name_issuer(self.issuer, request)
            issued = await self.issuer.issue(client_id, granted)
        except OAuthError as exc:
            self._record(request, principal, requested, False, str(exc))
            return exc.response()
        except TooManyRequests:
            self._record(request, principal, requested, False, "rate limited")
            raise
        self._record(request, principal, granted, True, "token issued")
        body: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }
        if issued.scope:
            body["scope"] = " ".join(issued.scope)
        return JSONResponse(body, headers={**NO_STORE, **limits})

    async def _authenticate(self, client_id: str, secret: str) -> Principal:
        try:
            principal = await self.keys.verify(secret)
        except Unauthenticated:
            raise OAuthError(
                "invalid_client",
                "the client is unknown, expired or revoked, or its secret is wrong",
                401,
            ) from None
        if principal.credential != f"key:{client_id}":
            raise OAuthError(
                "invalid_client", "the client_secret does not belong to the client_id", 401
            )
        return principal

    async def _throttle(self, principal: Principal) -> Mapping[str, str]:
        """Take one of the client's token requests (the gate limits only callers it
        authenticated itself); the ``RateLimit`` headers for the answer."""
        if TOKEN_POLICY.quota is None:
            return {}
        return await self.gate.throttle.take(principal.client, TOKEN_ROUTE, TOKEN_POLICY.quota)

    def _record(
        self,
        request: Request,
        principal: Principal | None,
        scopes: tuple[str, ...],
        allowed: bool,
        reason: str,
    ) -> None:
        self.gate.decisions.record(
            Decision(
                at_us=time.time_ns() // 1000,
                subject=principal.subject if principal else None,
                credential=principal.credential if principal else None,
                method=request.method,
                path=request.url.path,
                route=TOKEN_ROUTE,
                scopes=scopes,
                allowed=allowed,
                reason=reason,
                request_id=request_id(request),
            )
        )


def _name_issuer(issuer: TokenIssuer, request: Request) -> None:
    """Tell the issuer the gateway's URL, from the local address this request came in on."""
    server = request.scope.get("server")
    if server and server[1] is not None:
        host = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
        issuer.serving_at(f"{request.url.scheme}://{host}:{server[1]}")


async def _form(request: Request) -> dict[str, str]:
    """The form's parameters; RFC 6749 §3.2 allows each at most once, and an empty one
    counts as absent (§3.1)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise OAuthError("invalid_request", f"the token request must be sent as {FORM}")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is not valid UTF-8 form data") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", "a parameter is repeated")
        form[name] = value
    return {name: value for name, value in form.items() if value}


def _client_credentials(request: Request, form: Mapping[str, str]) -> tuple[str, str]:
    """``(client_id, client_secret)`` from HTTP Basic or from the form, exactly one."""
    authorization = request.headers.get("authorization")
    in_form = "client_secret" in form
    if authorization is not None:
        if in_form:
            raise OAuthError(
                "invalid_request", "the client authenticated in two ways (Basic and form)"
            )
        client_id, secret = _basic(authorization)
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        return client_id, secret
    if "client_id" not in form or not in_form:
        raise OAuthError(
            "invalid_client",
            "no client credentials (HTTP Basic, or client_id and client_secret in the form)",
            401,
        )
    return form["client_id"], form["client_secret"]


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "the Authorization header is not Basic", 401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "the Basic credentials are not base64", 401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise OAuthError("invalid_client", "the Basic credentials lack an id or a secret", 401)
    return unquote_plus(client_id), unquote_plus(secret)


def _grant_type(form: Mapping[str, str]) -> None:
    grant = form.get("grant_type")
    if grant is None:
        raise OAuthError("invalid_request", "grant_type is missing")
    if grant != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")


def _requested_scopes(form: Mapping[str, str]) -> tuple[str, ...]:
    words = form.get("scope", "").split(" ")
    scopes = tuple(sorted({w for w in words if w}))
    if not all(_SCOPE_TOKEN.match(scope) for scope in scopes):
        raise OAuthError("invalid_scope", "a scope holds characters RFC 6749 section 3.3 forbids")
    return scopes


def _granted(requested: tuple[str, ...], principal: Principal) -> tuple[str, ...]:
    if not requested:
        return tuple(sorted(principal.scopes))
    if principal.missing(requested):
        raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
    return requested
