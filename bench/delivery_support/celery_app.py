"""The Celery side of ``bench/delivery.py``: the same workload on Celery with the Redis broker.

    PYTHONPATH=bench celery -A delivery_support.celery_app worker --pool threads ...

Configuration: Redis broker on a dedicated database (``ARTERY_BENCH_CELERY_BROKER``, default
``redis://127.0.0.1:6379/15``; the benchmark flushes it before every run), ``task_acks_late``
(a message is acknowledged after the task ran, the closest Celery gets to at-least-once
delivery), JSON serializer, no result backend, prefetch multiplier from
``ARTERY_BENCH_CELERY_PREFETCH`` (default 4).

Completion is counted with one Redis ``INCR`` per task (on a client shared by the worker's
threads); the task that brings the count to ``total`` stores its completion time. Latency
runs instead push the publish-to-start delay onto a list (same single round trip).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

BROKER = os.environ.get("ARTERY_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
COUNT_KEY = "bench:count"
END_KEY = "bench:end"
LATENCY_KEY = "bench:latency"
READY_PREFIX = "bench:ready:"

app = Celery("bench_delivery", broker=BROKER)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=int(os.environ.get("ARTERY_BENCH_CELERY_PREFETCH", "4")),
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)

counter = redis.Redis.from_url(BROKER)


def _finish(total: int) -> None:
    if counter.incr(COUNT_KEY) == total:
        counter.set(END_KEY, repr(time.time()))


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop(order: dict[str, Any], total: int) -> None:
    _finish(total)


@app.task(name="bench.sleep20")  # type: ignore[untyped-decorator]
def sleep20(order: dict[str, Any], total: int) -> None:
    time.sleep(0.02)  # the simulated partner call (threads pool: one thread per call)
    _finish(total)


@app.task(name="bench.latency")  # type: ignore[untyped-decorator]
def latency(order: dict[str, Any], total: int) -> None:
    counter.rpush(LATENCY_KEY, repr(time.time() - order["sent_at"]))


@worker_ready.connect  # type: ignore[untyped-decorator]
def _ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or socket.gethostname()
    counter.set(f"{READY_PREFIX}{name}", repr(time.time()))
