"""Helpers for access-token tests: hand-made JWT parts, an external OAuth2 issuer with its
own keys, and a real uvicorn server on 127.0.0.1 to serve it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.clock import ManualClock

NOW = 1_900_000_000.0
OWN_ISSUER = "https://gateway.example.test"
EXTERNAL_ISSUER = "https://idp.example.test"


def b64url(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class ExternalIssuer:
    """An outside identity provider: its signing keys, and which of them it publishes."""

    clock: ManualClock
    name: str = EXTERNAL_ISSUER
    private: dict[str, Any] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)  # raw JWKs served as well
    hits: int = 0
    url: str = ""
    server: serving | None = None

    def add_key(self, kid: str, kind: str = "RSA", *, publish: bool = True) -> None:
        if kind == "RSA":
            self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict[str, Any]:
        public = self.private[kid].public_key()
        if isinstance(public, rsa.RSAPublicKey):
            found = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            found = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**found, "kid": kid, "use": "sig"}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "iss": self.name,
            "aud": "artery",
            "sub": "svc-billing",
            "client_id": "billing-app",
            "iat": now,
            "exp": now + 300,
            "jti": "j-1",
            "scp": ["orders:read", "orders:write"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self, kid: str, *, alg: str | None = None, typ: str = "at+jwt", **overrides: Any
    ) -> str:
        key = self.private[kid]
        alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(
            self.claims(**overrides), key, algorithm=alg, headers={"typ": typ, "kid": kid}
        )

    async def jwks(self, request: Request) -> JSONResponse:
        self.hits += 1
        keys = [self.jwk(kid) for kid in self.published] + self.extra
        return JSONResponse({"keys": keys})


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals stay pytest's


class serving:
    """Serve an ASGI app with uvicorn on a free port of 127.0.0.1 until the block ends
    (or ``stop()`` is called: the partner going down)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", access_log=False)
        self.server = _Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
            self.server = None

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
