"""What observing adds to a process, decided once for ``roles.assemble``: the records and
delivery observer of a working process, the gauges of a serving one, and the binding of
the integrations' business counters to this run's metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from artery.delivery.consumer import Consumer
from artery.delivery.middleware import Middleware
from artery.delivery.worker import WorkerOptions
from artery.integration import Declarations
from artery.observe.declare import BusinessCounter
from artery.observe.delivery import DeliveryObserver
from artery.observe.delivery_tracing import DeliveryTracing
from artery.observe.metrics import Metrics
from artery.observe.records import Records
from artery.observe.tracing import Tracing
from artery.runtime import Runtime

NONE = "none"  # the label of a consumer that names no partner


def owners(consumers: Sequence[Consumer]) -> dict[str, tuple[str, str]]:
    """Each consumer group's (integration, partner), the labels of its outcomes."""
    return {c.group: (c.integration or NONE, c.partner or NONE) for c in consumers}


def observed_worker(
    options: WorkerOptions,
    consumers: Sequence[Consumer],
    metrics: Metrics | None,
    records: Records | None,
    tracing: Tracing | None,
) -> WorkerOptions:
    """``options`` with the delivery span and observer after the app's own middleware
    (the span outermost of the two, so the observer's time is inside it)."""
    added: list[Middleware] = []
    if tracing is not None:
        added.append(DeliveryTracing(tracing))
    if metrics is not None:
        added.append(DeliveryObserver(owners(consumers), metrics, records))
    return dataclasses.replace(options, middleware=(*options.middleware, *added))


def records_for(declared: Declarations) -> Records:
    return Records(declared.integrations, declared.slos)


class CounterBinding:
    """A service: the declared business counters count into this run's metrics while it
    runs (a counter incremented outside a run keeps its count until the next)."""

    def __init__(self, counters: Sequence[BusinessCounter]) -> None:
        self.counters = tuple(counters)

    async def start(self, runtime: Runtime) -> None:
        for counter in self.counters:
            counter.bind(runtime.metrics)

    async def stop(self) -> None:
        for counter in self.counters:
            counter.bind(None)


__all__ = ["NONE", "CounterBinding", "observed_worker", "owners", "records_for"]
