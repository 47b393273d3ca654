"""Metrics and records of every delivery attempt, as delivery middleware: an observer on
the seam (``artery.middleware``), not branches in the runner.

Per attempt it counts the outcome by integration, partner, consumer and event type; on
success it observes the time to sync (from the event's own ``time``); on a dead letter it
counts the loss. The same outcomes go to ``Records`` for SLO budgets, status and ROI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from artery.delivery.middleware import Attempt, Middleware
from artery.observe.metrics import Metrics
from artery.observe.records import Labels, Records

__all__ = ["DeliveryObserver"]


class DeliveryObserver(Middleware):
    """One for all consumers of a worker; ``owners`` maps a consumer group to its
    (integration, partner)."""

    def __init__(
        self, owners: Mapping[str, tuple[str, str]], metrics: Metrics, records: Records | None
    ) -> None:
        self.owners = dict(owners)
        self.metrics = metrics
        self.records = records
        self._labels: dict[tuple[str, str, str], Labels] = {}

    def labels(self, attempt: Attempt) -> Labels:
        key = (attempt.group, attempt.consumer, attempt.event.type)
        found = self._labels.get(key)
        if found is None:
            integration, partner = self.owners.get(attempt.group, ("none", "none"))
            found = self._labels[key] = Labels(
                integration, partner, attempt.consumer, attempt.event.type
            )
        return found

    async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
        labels = self.labels(attempt)
        m = self.metrics
        if error is None:
            synced = max(0.0, time.time() - attempt.event.time.timestamp())
            m.child(m.delivered, *labels).inc()
            m.child(m.time_to_sync, *labels).observe(synced)
            if self.records is not None:
                self.records.delivered(labels, synced)
            return
        m.child(m.failed, *labels, type(error).__name__).inc()
        if self.records is not None:
            self.records.failed(labels)

    async def after_retry(self, attempt: Attempt, delay: float) -> None:
        labels = self.labels(attempt)
        self.metrics.child(self.metrics.retried, *labels).inc()
        if self.records is not None:
            self.records.retried(labels)

    async def after_dead_letter(self, attempt: Attempt, reason: str) -> None:
        labels = self.labels(attempt)
        self.metrics.child(self.metrics.dead_lettered, *labels).inc()
        if self.records is not None:
            self.records.dead(labels)
