"""Serve an app's declared routes through the real front door (``artery gateway``) on a free
port of 127.0.0.1, with fresh API keys of known scopes, for the route tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from artery import App
from artery.gateway.server import Listen
from support import api_key, bearer

SCOPES = {
    "orders": ("orders:write", "orders:read"),
    "other": ("orders:write", "orders:read"),
    "none": (),
    "admin": ("admin:read",),
    # every scope but the destructive one: what schemathesis may call
    "fuzzer": ("orders:write", "orders:read", "admin:read", "admin:write"),
}


@dataclass
class Served:
    app: App
    url: str
    keys: dict[str, str]  # name -> the key's secret

    def client(self, name: str = "orders") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=bearer(self.keys[name]), timeout=10)

    def credential(self, name: str) -> str:
        """How decisions, limits and counts name the client holding key ``name``."""
        return "key:" + "_".join(self.keys[name].split("_")[:2])


@contextlib.asynccontextmanager
async def serve(app: App) -> AsyncIterator[Served]:
    async with app.running("gateway", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        keys = {}
        for name, scopes in SCOPES.items():
            keys[name] = await api_key(app, *scopes, name=name) if scopes else await _bare(app)
        yield Served(app, app.http.url, keys)


async def _bare(app: App) -> str:
    """A valid key granting no scope at all."""
    from artery.gateway.auth.keys import ApiKeys

    secret, _ = await ApiKeys(app.store).create("none", ())
    return secret
