"""The app ``bench/scale.py`` runs as ``artery worker scale_app:app`` in N processes: one
consumer that notes each event's publish-to-handler latency (written to
``$SCALE_OUT/<pid>.txt`` when the process stops)."""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path

from artery import App, DeliveryContext, Event, WorkerOptions

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
PARTITIONS = 16

app = App("scale")
app.worker_options = WorkerOptions(lease_ttl=4.0)
orders = app.contract("scale.orders", schema=ORDER, partitions=PARTITIONS)
latencies: list[float] = []


@app.consumer(orders, group="scale", concurrency=64)
async def handle(event: Event, ctx: DeliveryContext) -> None:
    latencies.append(time.time() - event.time.timestamp())


@atexit.register
def write() -> None:
    folder = os.environ.get("SCALE_OUT")
    if folder:
        text = "\n".join(f"{x:.6f}" for x in latencies)
        Path(folder, f"{os.getpid()}.txt").write_text(text)
