"""Metrics and records of every delivery attempt, as delivery middleware: an observer on
the seam (``artery.middleware``), not branches in the runner.

Per attempt it counts the outcome by integration, partner, consumer and event type; on
success it observes the time to sync (from the event's own ``time``); on a dead letter it
counts the loss. The same outcomes go to ``Records`` for SLO budgets, status and ROI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from artery.delivery.middleware import Attempt, Middleware
from artery.observe.metrics import Metrics
from artery.observe.records import Labels, Records

__all__ = ["DeliveryObserver"]


class _Lane:
    """One (group, consumer, event type)'s labels and the metric children it updates, found
    once: building label tuples and looking children up per delivery was most of this
    observer's cost (~8 µs of a noop delivery's ~40 µs at full speed)."""

    __slots__ = ("dead", "delivered", "failed", "labels", "retried", "sync")

    def __init__(self, labels: Labels, metrics: Metrics) -> None:
        self.labels = labels
        self.delivered = metrics.child(metrics.delivered, *labels)
        self.sync = metrics.child(metrics.time_to_sync, *labels)
        self.retried = metrics.child(metrics.retried, *labels)
        self.dead = metrics.child(metrics.dead_lettered, *labels)
        self.failed: dict[str, Any] = {}


class DeliveryObserver(Middleware):
    """One for all consumers of a worker; ``owners`` maps a consumer group to its
    (integration, partner)."""

    def __init__(
        self, owners: Mapping[str, tuple[str, str]], metrics: Metrics, records: Records | None
    ) -> None:
        self.owners = dict(owners)
        self.metrics = metrics
        self.records = records
        self._lanes: dict[tuple[str, str, str], _Lane] = {}

    def lane(self, attempt: Attempt) -> _Lane:
        key = (attempt.group, attempt.consumer, attempt.event.type)
        found = self._lanes.get(key)
        if found is None:
            integration, partner = self.owners.get(attempt.group) or _made_at_run_time(attempt)
            labels = Labels(integration, partner, attempt.consumer, attempt.event.type)
            found = self._lanes[key] = _Lane(labels, self.metrics)
        return found

    def labels(self, attempt: Attempt) -> Labels:
        return self.lane(attempt).labels

    async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
        lane = self.lane(attempt)
        if error is None:
            synced = time.time() - attempt.event.time.timestamp()
            synced = synced if synced > 0.0 else 0.0
            lane.delivered.inc()
            lane.sync.observe(synced)
            if self.records is not None:
                self.records.delivered(lane.labels, synced)
            return
        kind = type(error).__name__
        child = lane.failed.get(kind)
        if child is None:
            child = lane.failed[kind] = self.metrics.child(self.metrics.failed, *lane.labels, kind)
        child.inc()
        if self.records is not None:
            self.records.failed(lane.labels)

    async def after_retry(self, attempt: Attempt, delay: float) -> None:
        lane = self.lane(attempt)
        lane.retried.inc()
        if self.records is not None:
            self.records.retried(lane.labels)

    async def after_dead_letter(self, attempt: Attempt, reason: str) -> None:
        lane = self.lane(attempt)
        lane.dead.inc()
        if self.records is not None:
            self.records.dead(lane.labels)


def _made_at_run_time(attempt: Attempt) -> tuple[str, str]:
    """A consumer added after the worker started: a destination made at run time
    (``webhook:<name>``, its own partner), else unknown."""
    if attempt.consumer.startswith("webhook:"):
        return "none", attempt.consumer.removeprefix("webhook:")
    return "none", "none"
