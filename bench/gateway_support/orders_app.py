"""The app ``bench/gateway.py`` serves with ``artery gateway``: one ingest route.

    cd bench && artery --store URL gateway gateway_support.orders_app:app --port 8080

``POST /v1/orders`` takes the ~1 KiB order of the delivery benchmark, authenticated by an
API key with the ``orders:write`` scope, validated against its contract and published as an
event; the caller gets 202 with the event id. The route's rate limit is on (as every route's
is by default) with a quota the benchmark never reaches, so its cost is measured but no
request is refused: ``ARTERY_BENCH_QUOTA`` sets it (``none`` turns it off).
"""

from __future__ import annotations

import os

from delivery_support.payload import SCHEMA, SUBJECT

from artery import App, Settings

QUOTA = os.environ.get("ARTERY_BENCH_QUOTA", "100000000/1s")

app = App("bench-gateway", settings=Settings.load(sqlite_synchronous="FULL"))  # ARTERY_* apply
orders = app.contract(SUBJECT, schema=SCHEMA)
app.ingest(
    "/v1/orders",
    orders,
    scopes=["orders:write"],
    quota=None if QUOTA == "none" else QUOTA,
)
