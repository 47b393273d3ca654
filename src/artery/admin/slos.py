"""``GET /admin/slos``: each declared SLO as the runtime's records see it now: objective,
window, threshold, events and bad events over the window, the error budget left, the burn
rates over the alerting windows and the burn-rate alert that is firing, if any."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped
from artery.gateway.policy import ADMIN_READ
from artery.observe.slo import statuses

if TYPE_CHECKING:
    from artery.integration import Declarations
    from artery.runtime import Runtime


def routes(runtime: Runtime, declared: Declarations) -> list[Scoped]:
    async def listed(request: Request) -> JSONResponse:
        found = await statuses(runtime.store, declared.slos.values(), runtime.clock.now())
        runbooks = {name: i.runbook for name, i in declared.integrations.items()}
        return JSONResponse({"slos": [s.describe(runbooks.get(s.slo.integration)) for s in found]})

    return [Scoped("/slos", listed, ("GET",), ADMIN_READ)]


__all__ = ["routes"]
