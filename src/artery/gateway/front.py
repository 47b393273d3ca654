"""The front door of one serving process: the gate and every HTTP mount, built from the
app's declarations and the opened runtime.

``FrontDoor`` is what the ``run`` and ``gateway`` roles serve: its ``mounts`` go to the
``HttpServer`` and its ``services`` (batched writers, the forwarder) start before it.
Only ``/healthz`` and ``/readyz`` (and the JWKS, which holds public keys) answer without
a credential; the token endpoint authenticates its clients itself.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from artery import admin
from artery.admin import destinations as admin_destinations
from artery.admin import sources as admin_sources
from artery.admin import strangler
from artery.console import app as console_app
from artery.console.pages import console_pages
from artery.console.sessions import Sessions
from artery.console.web import Console, Templates
from artery.gateway import api, decisions, health, problems
from artery.gateway.auth import ApiKeys, Credentials, bearer, endpoints
from artery.gateway.auth.tokens import TokenIssuer
from artery.gateway.gate import Gate
from artery.gateway.openapi import OpenApi
from artery.gateway.strangler import Forwarder
from artery.gateway.throttle import StoreThrottle
from artery.gateway.versions import Deprecations
from artery.integration import Declarations
from artery.observe import endpoint as metrics_endpoint
from artery.observe.gauges import Gauges
from artery.publishing import Publisher
from artery.runtime import Runtime, Service
from artery.webhooks import inbound
from artery.webhooks.ledger import Ledger
from artery.webhooks.outbound import Outbound
from artery.webhooks.registry import RunTimeDestinations
from artery.workflows import Workflows


class FrontDoor:
    """The gate, its parts and the mounts of one HTTP server."""

    def __init__(
        self,
        runtime: Runtime,
        declared: Declarations,
        runs: Workflows,
        publisher: Publisher,
        outbound: Outbound | None = None,
        registry: RunTimeDestinations | None = None,
    ) -> None:
        self.keys = ApiKeys(runtime.store)
        self.decisions = decisions.StoreDecisions(runtime.store)
        self.tokens = TokenIssuer(runtime.store, runtime.settings, clock=runtime.clock)
        external = bearer.external_keys(runtime.settings, runtime.clock)
        verifier = bearer.BearerTokens(runtime.settings, self.tokens, external, clock=runtime.clock)
        self.deprecations = Deprecations()
        throttle = StoreThrottle(runtime.store)
        self.gate = Gate(
            Credentials(self.keys, verifier), self.decisions, throttle, self.deprecations
        )
        self.forwarder = Forwarder(declared.routes.values())
        sources = list(declared.sources.values())
        self.ledger = Ledger(sources, clock=runtime.clock.now)
        self.services: list[Service] = [
            self.keys,
            self.decisions,
            self.deprecations,
            self.forwarder,
            self.ledger,
        ]
        scoped = admin.scoped_routes(
            runtime,
            declared,
            runs,
            [
                *decisions.admin_routes(self.decisions),
                *self.deprecations.routes(),
                *strangler.admin_routes(self.forwarder, runtime),
                *admin_sources.admin_routes(self.ledger),
                *(admin_destinations.admin_routes(outbound, registry) if outbound else []),
            ],
        )
        described = OpenApi(declared, runtime.registry, scoped, publisher.source)
        self.metrics = runtime.metrics
        self.outbound = outbound
        self.mounts: list[BaseRoute] = [
            *health.routes(runtime),
            self.console_mount(runtime, declared, runs, outbound, registry, throttle),
            *metrics_endpoint.routes(runtime.metrics, self.gate),
            admin.mount(scoped, self.gate, runtime.store),
            *endpoints.routes(self.tokens, self.keys, self.gate),
            *problems.routes(self.gate),
            described.route(self.gate),
            *api.routes(declared, self.gate, runtime, publisher, self.forwarder),
            *inbound.routes(
                sources,
                publisher,
                self.ledger,
                self.decisions,
                clock=runtime.clock.now,
                metrics=runtime.metrics if runtime.settings.metrics else None,
            ),
        ]

    def console_mount(
        self,
        runtime: Runtime,
        declared: Declarations,
        runs: Workflows,
        outbound: Outbound | None,
        registry: RunTimeDestinations | None,
        throttle: StoreThrottle,
    ) -> Mount:
        """``/console``: the same gate's decisions, limits and timeouts, signed in by a
        session cookie instead of a header."""
        sessions = Sessions(runtime.store, self.keys, runtime.settings.console_session_ttl)
        gate = Gate(sessions, self.decisions, throttle, self.deprecations)
        parts = Console(
            runtime, declared, runs, Templates(), self.decisions, self.ledger, outbound, registry
        )
        return console_app.mount(parts, gate, sessions, console_pages(parts))

    def gauges(self) -> Gauges:
        """The gauges this server exports, refreshed from the store in the background."""
        outbound = self.outbound

        async def destinations() -> dict[str, bool]:
            if outbound is None:
                return {}
            return {d["name"]: not d["enabled"] for d in await outbound.described()}

        return Gauges(self.metrics, sources=self.ledger.status, destinations=destinations)
