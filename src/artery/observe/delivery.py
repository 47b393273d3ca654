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
from artery.observe.delivery_counts import Lane
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
        self.counts = metrics.delivery
        self._lanes: dict[tuple[str, str, str], tuple[Labels, Lane]] = {}

    def lane(self, attempt: Attempt) -> tuple[Labels, Lane]:
        key = (attempt.group, attempt.consumer, attempt.event.type)
        found = self._lanes.get(key)
        if found is None:
            integration, partner = self.owners.get(attempt.group) or _made_at_run_time(attempt)
            labels = Labels(integration, partner, attempt.consumer, attempt.event.type)
            found = self._lanes[key] = (labels, self.counts.lane(labels))
        return found

    async def after_attempt(self, attempt: Attempt, error: Exception | None) -> None:
        labels, lane = self.lane(attempt)
        if error is None:
            synced = time.time() - attempt.event.time.timestamp()
            synced = synced if synced > 0.0 else 0.0
            self.counts.delivered(lane, synced)
            if self.records is not None:
                self.records.delivered(labels, synced)
            return
        kind = type(error).__name__
        lane.failed[kind] = lane.failed.get(kind, 0) + 1
        if self.records is not None:
            self.records.failed(labels)

    async def after_retry(self, attempt: Attempt, delay: float) -> None:
        labels, lane = self.lane(attempt)
        lane.retried += 1
        if self.records is not None:
            self.records.retried(labels)

    async def after_dead_letter(self, attempt: Attempt, reason: str) -> None:
        labels, lane = self.lane(attempt)
        lane.dead += 1
        if self.records is not None:
            self.records.dead(labels)


def _made_at_run_time(attempt: Attempt) -> tuple[str, str]:
    """A consumer added after the worker started: a destination made at run time
    (``webhook:<name>``, its own partner), else unknown."""
    if attempt.consumer.startswith("webhook:"):
        return "none", attempt.consumer.removeprefix("webhook:")
    return "none", "none"
