"""``/healthz`` and ``/readyz``: whether this process is up, and whether it can serve.

``/healthz`` answers 200 whenever the process answers at all (a liveness probe: restart
me if this fails). ``/readyz`` answers 200 only when the store answers a trivial read,
every package's migrations are applied, and no background loop is failing; otherwise a
503 problem listing what is not ready (a readiness probe: send me no traffic).

Both are served outside the gate, on purpose: load balancers and orchestrators probe them
often, by IP address and with no credential, so they must stay cheap (no credential
check, no decision recorded per probe, no rate limit to trip). They say nothing a caller
could use: failing loops are named with the kind of error only (never its message, which
for a driver error may quote data), and the store's failure by its error code.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from artery.errors import ArteryError
from artery.gateway import problems
from artery.runtime import Runtime
from artery.schema import SCHEMAS
from artery.store.migrations import applied_versions, behind
from artery.store.protocol import Tx

STORE_TIMEOUT = 2.0  # seconds the store gets to answer before it counts as unreachable


class NotReady(ArteryError):
    """The process cannot serve yet: its store, its migrations or a background loop."""

    code = "artery.not-ready"
    http_status = 503


def _migration_lag(tx: Tx) -> list[str]:
    """The packages whose tables are behind this release (empty when all are applied)."""
    tx.execute("SELECT 1")
    return [str(lag) for lag in behind(applied_versions(tx), SCHEMAS)]


async def readiness(runtime: Runtime) -> list[dict[str, Any]]:
    """What keeps the process from serving; empty when it is ready."""
    failing: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            lagging = await runtime.store.read(_migration_lag)
    except TimeoutError:
        failing.append({"check": "store", "error": "timeout"})
    except ArteryError as exc:
        failing.append({"check": "store", "error": exc.code})
    except Exception as exc:  # a driver error: its kind only, its message may quote data
        failing.append({"check": "store", "error": type(exc).__name__})
    else:
        if lagging:
            failing.append({"check": "migrations", "behind": lagging})
    for failure in runtime.health.failures():
        kind = failure.error.split(":", 1)[0]
        failing.append(
            {"check": "loop", "loop": failure.loop, "error": kind, "failures": failure.count}
        )
    return failing


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The two probes, public and outside the gate (see the module docstring)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        failing = await readiness(runtime)
        if not failing:
            return JSONResponse({"status": "ready"})
        names = ", ".join(sorted({item["check"] for item in failing}))
        error = NotReady(
            f"not ready: {names} failing",
            fix="wait and probe again; if it persists, fix what failing names (server log)",
        )
        return problems.from_error(error, request.scope, extra={"failing": failing})

    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
    ]
