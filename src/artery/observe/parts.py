"""What observing adds to a process, decided once for ``roles.assemble``: the records and
delivery observer of a working process, the gauges of a serving one, and the binding of
the integrations' business counters to this run's metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from artery.delivery.consumer import Consumer
from artery.delivery.worker import WorkerOptions
from artery.integration import Declarations
from artery.observe.declare import BusinessCounter
from artery.observe.delivery import DeliveryObserver
from artery.observe.metrics import Metrics
from artery.observe.records import Records
from artery.runtime import Runtime

NONE = "none"  # the label of a consumer that names no partner


def owners(consumers: Sequence[Consumer]) -> dict[str, tuple[str, str]]:
    """Each consumer group's (integration, partner), the labels of its outcomes."""
    return {c.group: (c.integration or NONE, c.partner or NONE) for c in consumers}


def observed_worker(
    options: WorkerOptions, consumers: Sequence[Consumer], metrics: Metrics, records: Records
) -> WorkerOptions:
    """``options`` with the delivery observer after the app's own middleware."""
    observer = DeliveryObserver(owners(consumers), metrics, records)
    return dataclasses.replace(options, middleware=(*options.middleware, observer))


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
