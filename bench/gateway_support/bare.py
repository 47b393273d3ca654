"""The ceiling for ``bench/gateway.py``: a bare Starlette endpoint on the same uvicorn
settings the gateway serves with, answering what the full path answers, with no work.

    python bench/gateway_support/bare.py --port 8081

``POST /v1/orders`` reads the body (any server must) and answers 202 with a JSON event id,
the shape ``integration.ingest`` answers with; no authentication, validation or store.
The uvicorn settings are ``artery.gateway.server.HttpServer``'s (uvloop and httptools when
installed, no lifespan, no access log), so the difference to the full path is Artery's work.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ANSWER = {"id": "0193a5c2-5a8e-7d4b-9b1e-3f2a1c0d9e8f"}


async def accept(request: Request) -> Response:
    await request.body()
    return JSONResponse(ANSWER, status_code=202)


app = Starlette(routes=[Route("/v1/orders", accept, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description="bare Starlette endpoint (the ceiling)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        lifespan="off",
        log_level="warning",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
