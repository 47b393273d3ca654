"""``GET /admin/report?since=7d``: the ROI report (``observe/roi.py``) as JSON, for
``admin:read``. ``artery report`` prints the same figures."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped
from artery.errors import ConfigError
from artery.gateway.policy import ADMIN_READ
from artery.observe import roi
from artery.runtime import Runtime

DEFAULT_SINCE = "7d"


def routes(runtime: Runtime) -> list[Scoped]:
    async def report(request: Request) -> JSONResponse:
        unknown = sorted(set(request.query_params) - {"since"})
        if unknown:
            raise ConfigError(
                f"unknown query parameter(s) {', '.join(unknown)}", fix="use since, e.g. since=7d"
            )
        since = roi.window(request.query_params.get("since", DEFAULT_SINCE), "since")
        found = await roi.report(runtime.store, since=since, now=runtime.clock.now())
        return JSONResponse(found.to_dict())

    return [Scoped("/report", report, ("GET",), ADMIN_READ)]


__all__ = ["DEFAULT_SINCE", "routes"]
