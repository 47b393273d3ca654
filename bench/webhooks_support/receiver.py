"""A bare receiver for ``bench/webhooks.py``, under the same uvicorn settings Artery serves
with: ``POST`` anywhere reads the body and answers 200 with no work (the inbound ceiling,
and the outbound partner); ``GET /count`` says how many calls came and when the first and
last arrived.

    python bench/webhooks_support/receiver.py --port 8081
"""

from __future__ import annotations

import argparse
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

seen = {"calls": 0, "first": 0.0, "last": 0.0}


async def accept(request: Request) -> Response:
    await request.body()
    now = time.time()
    seen["calls"] += 1
    seen["first"] = seen["first"] or now
    seen["last"] = now
    return JSONResponse({"ok": True})


async def count(request: Request) -> Response:
    return JSONResponse(seen)


app = Starlette(
    routes=[
        Route("/count", count, methods=["GET"]),
        Route("/{path:path}", accept, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
