"""Fixtures for access-token tests: a real store, a settable clock, and an external OAuth2
issuer simulated as a real HTTP server on 127.0.0.1 that serves its JWKS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from token_kit import EXTERNAL_ISSUER, NOW, OWN_ISSUER, ExternalIssuer, serving

from artery.clock import ManualClock
from artery.config import Settings
from artery.gateway.auth.tokens import TokenIssuer
from artery.store import SqlStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW, monotonic=1000.0)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        token_issuer=OWN_ISSUER,
        token_audience="artery",
        token_ttl=300.0,
        signing_key_rotation=3600.0,
        external_issuer=EXTERNAL_ISSUER,
        external_jwks_url="http://127.0.0.1:1/unused",
    )


@pytest.fixture
def issuer(store: SqlStore, settings: Settings, clock: ManualClock) -> TokenIssuer:
    return TokenIssuer(store, settings, clock=clock)


@pytest.fixture
async def external(clock: ManualClock) -> AsyncIterator[ExternalIssuer]:
    """The external issuer, serving ``GET /jwks.json`` over real HTTP on 127.0.0.1."""
    idp = ExternalIssuer(clock)
    idp.add_key("rsa-1")
    idp.server = serving(Starlette(routes=[Route("/jwks.json", idp.jwks)]))
    async with idp.server as base:
        idp.url = base + "/jwks.json"
        yield idp
