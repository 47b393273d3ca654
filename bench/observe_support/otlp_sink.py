"""A stand-in OpenTelemetry collector for the benchmarks: accepts OTLP/HTTP trace exports
(``POST /v1/traces``, protobuf) and answers 200 with an empty response, so a benchmark
measures what exporting costs Artery (building, batching, encoding and sending spans),
not a collector's work.

    python bench/observe_support/otlp_sink.py --port 4318
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

received = {"exports": 0, "bytes": 0}


async def traces(request: Request) -> Response:
    body = await request.body()
    received["exports"] += 1
    received["bytes"] += len(body)
    return Response(b"", 200, media_type="application/x-protobuf")


async def healthz(request: Request) -> Response:
    return JSONResponse(received)


app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/healthz", healthz)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
