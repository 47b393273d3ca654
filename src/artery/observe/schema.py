"""Observability's tables: the runtime's own record of outcomes, from which SLO budgets,
burn rates, status and ROI are computed without a metrics server.

* ``observe_minutes``: per integration, partner, consumer and minute, the events delivered
  (and of those, late against the integration's SLO), dead-lettered, failed attempts and
  retries. Counts, never ids or payloads; a minute's row is added to by every process.
* ``partner_incidents``: a partner's failures from the first failed attempt to the next
  success (mean time to recovery).
* ``integration_milestones``: when an integration was first declared to a running app and
  when its first event was delivered (time to first value).
* ``interventions``: what a person did by hand (a redrive, a manual signal, a resend), for
  the interventions-per-1,000-events indicator.
* ``observe_processes``: each running process's failing background loops, refreshed every
  few seconds, so ``artery status`` (another process) can see them.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "observe: outcomes per minute, partner incidents, milestones, interventions",
        (
            """CREATE TABLE observe_minutes (
                integration {text} NOT NULL,
                partner {text} NOT NULL,
                consumer {text} NOT NULL,
                minute {bigint} NOT NULL,
                delivered {bigint} NOT NULL,
                late {bigint} NOT NULL,
                dead {bigint} NOT NULL,
                failed {bigint} NOT NULL,
                retried {bigint} NOT NULL,
                PRIMARY KEY (integration, partner, consumer, minute))""",
            "CREATE INDEX observe_minutes_by_minute ON observe_minutes (minute)",
            """CREATE TABLE partner_incidents (
                id {id},
                integration {text} NOT NULL,
                partner {text} NOT NULL,
                started_at {bigint} NOT NULL,
                recovered_at {bigint})""",
            "CREATE INDEX partner_incidents_open ON partner_incidents (partner, recovered_at)",
            """CREATE TABLE integration_milestones (
                integration {text} PRIMARY KEY,
                first_declared_at {bigint} NOT NULL,
                first_delivered_at {bigint})""",
            """CREATE TABLE interventions (
                id {id},
                at {bigint} NOT NULL,
                kind {text} NOT NULL,
                integration {text},
                actor {text},
                detail {text})""",
            "CREATE INDEX interventions_by_at ON interventions (at)",
        ),
    ),
    (
        "observe: each process's background loops, for artery status",
        (
            # written every few seconds by each running process (``observe/beacon.py``);
            # a row not refreshed for a minute is a process that stopped or hangs
            """CREATE TABLE observe_processes (
                process {text} PRIMARY KEY,
                role {text} NOT NULL,
                host {text} NOT NULL,
                pid {bigint} NOT NULL,
                started_at {bigint} NOT NULL,
                seen_at {bigint} NOT NULL,
                failing_json {text} NOT NULL)""",
        ),
    ),
    (
        "observe: time to sync per minute, as bucket counts, for the console's p50 and p99",
        (
            # one row per integration, minute and bucket of ``records.SYNC_BOUNDS`` (the
            # last bucket is everything slower); counts add up across processes
            """CREATE TABLE observe_sync (
                integration {text} NOT NULL,
                minute {bigint} NOT NULL,
                bucket {bigint} NOT NULL,
                events {bigint} NOT NULL,
                PRIMARY KEY (integration, minute, bucket))""",
            "CREATE INDEX observe_sync_by_minute ON observe_sync (minute)",
        ),
    ),
)
