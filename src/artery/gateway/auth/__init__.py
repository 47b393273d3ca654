"""Who is calling: API keys and OAuth2 access tokens, behind one ``Authenticator``.

A credential comes as ``Authorization: Bearer <credential>`` (RFC 6750) or, for API keys,
``X-API-Key: <key>``. An API key is recognised by its ``ak_`` prefix; anything else
presented as a bearer credential is an access token (a JWT). Cookies and query parameters
are never read: a browser does not attach these headers to a cross-site request, which is
what keeps another site's page from calling the API on an operator's behalf.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request

from artery.errors import Unauthenticated
from artery.gateway.auth.keys import CHALLENGE, ApiKeys, invalid
from artery.gateway.policy import Principal


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class Credentials:
    """The gate's ``Authenticator``: API keys, and access tokens when a verifier is set."""

    def __init__(self, keys: ApiKeys, tokens: TokenVerifier | None = None) -> None:
        self.keys = keys
        self.tokens = tokens

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value:
                raise Unauthenticated(
                    "the Authorization header is not a bearer credential",
                    fix="send Authorization: Bearer <API key or access token>",
                    headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_request"'},
                )
            if value.startswith("ak_"):
                return await self.keys.verify(value)
            if self.tokens is not None:
                return await self.tokens.verify(value)
            raise invalid("not an API key")
        key = request.headers.get("x-api-key")
        if key is not None:
            return await self.keys.verify(key.strip())
        raise Unauthenticated(
            f"{request.method} {request.url.path} needs a credential",
            fix="send Authorization: Bearer <API key or access token>;"
            " create a key with artery keys create",
            headers={"WWW-Authenticate": CHALLENGE},
        )


__all__ = ["ApiKeys", "Credentials", "TokenVerifier"]
