"""Delivery outcomes counted for ``/metrics`` at the cost of a few integer additions.

Why not prometheus-client's ``Counter`` and ``Histogram`` here: a delivery is the hottest
path Artery has (a no-op handler takes ~34 µs end to end on the project machine), and the
library's children take a lock per update (``Counter.inc`` 0.7 µs, ``Histogram.observe``
1.5 µs, measured), which made metrics cost a quarter of ``bench/delivery.py``'s noop
throughput. Here each (integration, partner, consumer, event type) lane keeps plain
integers, bumped on the event loop's thread only, and a custom collector (the library's
documented extension point) renders them as the same families at scrape time, which runs
on that thread too.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

go_float: Callable[[float], str] = floatToGoString  # the library's ``le`` spelling (untyped)

LABELS = ("integration", "partner", "consumer", "event_type")


class Lane:
    """One lane's counts; ``buckets`` are per bucket (made cumulative when rendered)."""

    __slots__ = ("buckets", "dead", "delivered", "failed", "labels", "retried", "sum")

    def __init__(self, labels: tuple[str, str, str, str], bounds: int) -> None:
        self.labels = labels
        self.delivered = 0
        self.retried = 0
        self.dead = 0
        self.failed: dict[str, int] = {}  # by the error's type
        self.buckets = [0] * (bounds + 1)  # the last one is +Inf
        self.sum = 0.0


class DeliveryCounts:
    """A collector of every lane's counts, registered with the app's registry."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.lanes: dict[tuple[str, str, str, str], Lane] = {}

    def lane(self, labels: tuple[str, str, str, str]) -> Lane:
        found = self.lanes.get(labels)
        if found is None:
            found = self.lanes[labels] = Lane(labels, len(self.bounds))
        return found

    def delivered(self, lane: Lane, seconds: float) -> None:
        lane.delivered += 1
        lane.buckets[bisect.bisect_left(self.bounds, seconds)] += 1
        lane.sum += seconds

    def describe(self) -> Iterator[Any]:
        return iter(self._families())

    def collect(self) -> Iterator[Any]:
        families = self._families()
        lanes = list(self.lanes.values())
        delivered, failed, retried, dead, synced = families
        for lane in lanes:
            values = list(lane.labels)
            delivered.add_metric(values, lane.delivered)
            retried.add_metric(values, lane.retried)
            dead.add_metric(values, lane.dead)
            for error, n in sorted(lane.failed.items()):
                failed.add_metric([*values, error], n)
            synced.add_metric(values, self._cumulative(lane), lane.sum)
        return iter(families)

    def _cumulative(self, lane: Lane) -> list[tuple[str, float]]:
        running, shown = 0, []
        for bound, count in zip([*self.bounds, float("inf")], lane.buckets, strict=True):
            running += count
            shown.append((go_float(bound), float(running)))
        return shown

    @staticmethod
    def _families() -> list[Any]:
        return [
            CounterMetricFamily(
                "artery_events_delivered", "Events a consumer handled successfully", labels=LABELS
            ),
            CounterMetricFamily(
                "artery_delivery_failures",
                "Failed delivery attempts, by the error's type",
                labels=[*LABELS, "error"],
            ),
            CounterMetricFamily(
                "artery_delivery_retries", "Retries scheduled after a failed attempt", labels=LABELS
            ),
            CounterMetricFamily(
                "artery_events_dead_lettered", "Events given up on (dead letters)", labels=LABELS
            ),
            HistogramMetricFamily(
                "artery_time_to_sync_seconds",
                "From an event's own time to the end of its successful handling",
                labels=LABELS,
            ),
        ]


__all__ = ["DeliveryCounts", "Lane"]
