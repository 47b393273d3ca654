"""``GET /metrics``: the Prometheus text exposition, to a credential holding the
``metrics:read`` scope (a scraper's API key: ``artery keys create prometheus --scope
metrics:read``, given to Prometheus as ``authorization: credentials``). Like every route
but ``/healthz`` and ``/readyz``, it never answers without one; scrapes are not
rate-limited, and every one is an authorization decision on record."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from artery.gateway.gate import Gate
from artery.gateway.policy import Policy
from artery.observe.metrics import CONTENT_TYPE, Metrics

SCOPE = "metrics:read"


def routes(metrics: Metrics, gate: Gate) -> list[BaseRoute]:
    async def exposition(request: Request) -> Response:
        return Response(metrics.exposition(), headers={"content-type": CONTENT_TYPE})

    policy = Policy(scopes=(SCOPE,), quota=None, tags=("observability",))
    guarded = gate.guard("GET /metrics", policy, exposition)
    return [Route("/metrics", guarded, methods=["GET"], name="metrics")]


__all__ = ["SCOPE", "routes"]
