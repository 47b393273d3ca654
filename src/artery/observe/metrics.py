"""Metrics in business terms, with prometheus-client, served at ``/metrics``.

One ``Metrics`` per running app, each with its own registry (two apps in one process, as in
tests, never mix their counts). Names follow Prometheus: the ``artery_`` prefix, base units
(seconds), ``_total`` on counters. Labels are bounded sets a person chose (integration,
partner, consumer, event type, route, key name, status, reason), never ids or emails.

The families, by what an operator asks:

* how many events came in, were published, delivered, failed or dead-lettered, per
  integration, partner and event type (``artery_events_*_total``);
* how long sync takes: ``artery_time_to_sync_seconds``, from the event's own ``time`` to
  the end of its successful handling (the buckets include each SLO's threshold, so the
  recording rules of ``observe/slo.py`` can count events synced in time);
* how deep the backlog is and how old its oldest event (``artery_consumer_backlog_events``,
  ``artery_consumer_oldest_unprocessed_age_seconds``, refreshed by ``observe/backlog.py``);
* retries, breaker state, rate-limit waits, webhook rejections and silence, destination
  attempts, workflow runs and step durations, gateway requests, unhealthy loops;
* the integration's own counters (``orders_synced`` -> ``artery_orders_synced_total``).

Hot paths hold the labelled children they use (``child``): prometheus-client's
``labels()`` builds a key and takes a lock on every call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from artery.observe.delivery_counts import DeliveryCounts

if TYPE_CHECKING:
    from artery.observe.declare import BusinessCounter

SYNC_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 21600.0, 86400.0,
)  # fmt: skip
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every family Artery exports, on one registry."""

    def __init__(self, sync_thresholds: Iterable[float] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[Any, ...], Any] = {}
        self._business: dict[str, Counter] = {}
        self._lock = threading.Lock()
        r = self.registry
        buckets = tuple(sorted({*SYNC_BUCKETS, *(float(t) for t in sync_thresholds)}))
        self.ingested = Counter(
            "artery_events_ingested",
            "Calls received by webhook sources and API routes, by outcome",
            ["integration", "partner", "event_type", "outcome"],
            registry=r,
        )
        self.published = Counter(
            "artery_events_published",
            "Events appended to the log",
            ["integration", "event_type"],
            registry=r,
        )
        # delivered, failed, retried, dead-lettered and time to sync: a collector of plain
        # counts (``delivery_counts.py`` says why not the library's metric objects)
        self.delivery = DeliveryCounts(buckets)
        r.register(self.delivery)
        self.backlog = Gauge(
            "artery_consumer_backlog_events",
            "Events appended but not yet processed, per consumer group and topic",
            ["group", "topic"],
            registry=r,
        )
        self.oldest = Gauge(
            "artery_consumer_oldest_unprocessed_age_seconds",
            "Age of the oldest event not yet processed, per consumer group and topic",
            ["group", "topic"],
            registry=r,
        )
        self.breaker = Gauge(
            "artery_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["breaker"],
            registry=r,
        )
        self.rate_waits = Counter(
            "artery_rate_limit_waits",
            "Attempts that waited for a rate limit",
            ["limit"],
            registry=r,
        )
        self.rate_waited = Counter(
            "artery_rate_limit_wait_seconds",
            "Time attempts spent waiting for a rate limit",
            ["limit"],
            registry=r,
        )
        self.rejections = Counter(
            "artery_webhook_rejections",
            "Webhook calls refused, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.silent = Gauge(
            "artery_webhook_source_silent",
            "1 when a source has been quiet for longer than its expected cadence",
            ["source"],
            registry=r,
        )
        self.destination_attempts = Counter(
            "artery_destination_attempts",
            "Outbound webhook attempts, by destination and status (HTTP code or error)",
            ["destination", "status"],
            registry=r,
        )
        self.destination_disabled = Gauge(
            "artery_destination_disabled",
            "1 when a destination is disabled",
            ["destination"],
            registry=r,
        )
        self.workflow_runs = Counter(
            "artery_workflow_runs",
            "Workflow runs reaching a state (started, completed, failed, compensated)",
            ["workflow", "state"],
            registry=r,
        )
        self.step_duration = Histogram(
            "artery_workflow_step_duration_seconds",
            "Duration of workflow step attempts",
            ["workflow", "step", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "artery_http_requests",
            "Gateway requests by route, client (key or token name) and status",
            ["route", "client", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "artery_http_request_duration_seconds",
            "Gateway request duration by route",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.loop_healthy = Gauge(
            "artery_background_loop_healthy",
            "1 while a background loop runs well, 0 while it fails and backs off",
            ["loop"],
            registry=r,
        )

    def child(self, family: Any, *labels: str) -> Any:
        """The labelled child of ``family``, kept for the next call."""
        key = (id(family), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = family.labels(*labels)
        return found

    def business(self, counter: BusinessCounter) -> Any:
        """The child counting ``counter`` (one family per name, labelled by integration)."""
        family = self._business.get(counter.name)
        if family is None:
            with self._lock:
                family = self._business.get(counter.name)
                if family is None:
                    family = Counter(
                        f"artery_{counter.name}",
                        counter.description,
                        ["integration"],
                        registry=self.registry,
                    )
                    self._business[counter.name] = family
        return self.child(family, counter.integration)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "SYNC_BUCKETS", "Metrics"]
