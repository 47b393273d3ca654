"""The front door of one serving process: the gate and every HTTP mount, built from the
app's declarations and the opened runtime.

``FrontDoor`` is what the ``run`` and ``gateway`` roles serve: its ``mounts`` go to the
``HttpServer`` and its ``services`` (batched writers, key rotation) start before it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.routing import BaseRoute

from artery import admin
from artery.admin import strangler
from artery.gateway import decisions
from artery.gateway.auth import ApiKeys, Credentials
from artery.gateway.gate import Gate
from artery.gateway.policy import Deprecation, Quota
from artery.gateway.strangler import Forwarder
from artery.integration import Declarations
from artery.publishing import Publisher
from artery.runtime import Runtime, Service
from artery.workflows import Workflows

log = logging.getLogger("artery.gateway")


class _Unlimited:  # replaced by gateway.throttle when it lands
    async def take(self, client: str, route: str, quota: Quota) -> Mapping[str, str]:
        return {}


class _Uncounted:  # replaced by gateway.versions when it lands
    def called(self, route: str, client: str) -> None:
        return None

    def headers(self, deprecation: Deprecation) -> Mapping[str, str]:
        return {}


class FrontDoor:
    """The gate, its parts and the mounts of one HTTP server."""

    def __init__(
        self, runtime: Runtime, declared: Declarations, runs: Workflows, publisher: Publisher
    ) -> None:
        self.keys = ApiKeys(runtime.store)
        self.decisions = decisions.StoreDecisions(runtime.store)
        self.gate = Gate(Credentials(self.keys), self.decisions, _Unlimited(), _Uncounted())
        self.forwarder = Forwarder(declared.routes.values())
        self.services: list[Service] = [self.keys, self.decisions, self.forwarder]
        admin_routes = [
            *decisions.admin_routes(self.decisions),
            *strangler.admin_routes(self.forwarder, runtime),
        ]
        self.mounts: list[BaseRoute] = [
            admin.mount(runtime, declared, runs, self.gate, admin_routes),
        ]
