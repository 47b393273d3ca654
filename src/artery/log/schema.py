"""The embedded log's tables: topics, partitions, events, idempotency keys, group
positions, and the group coordinator's workers and partition leases.

Only ``log/`` reads or writes these tables. Never edit a released migration; append a new
one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "topics, partitions, events, idempotency keys, group offsets",
        (
            """CREATE TABLE topics (
                name {text} PRIMARY KEY,
                subject {text} NOT NULL,
                partitions {bigint} NOT NULL,
                retention_ms {bigint},
                retention_count {bigint},
                created_at {bigint} NOT NULL)""",
            """CREATE TABLE partitions (
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                next_offset {bigint} NOT NULL,
                PRIMARY KEY (topic, partition))""",
            """CREATE TABLE events (
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                event_offset {bigint} NOT NULL,
                id {text} NOT NULL,
                contract_version {bigint} NOT NULL,
                appended_at {bigint} NOT NULL,
                body {blob} NOT NULL,
                PRIMARY KEY (topic, partition, event_offset))""",
            "CREATE INDEX events_by_time ON events (topic, partition, appended_at)",
            """CREATE TABLE idempotency_keys (
                topic {text} NOT NULL,
                key {text} NOT NULL,
                partition {bigint} NOT NULL,
                event_offset {bigint} NOT NULL,
                expires_at {bigint} NOT NULL,
                PRIMARY KEY (topic, key))""",
            """CREATE TABLE group_offsets (
                group_name {text} NOT NULL,
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                next_offset {bigint} NOT NULL,
                updated_at {bigint} NOT NULL,
                PRIMARY KEY (group_name, topic, partition))""",
        ),
    ),
    (
        "group coordination: workers, partition leases",
        (
            """CREATE TABLE workers (
                worker_id {text} PRIMARY KEY,
                host {text} NOT NULL,
                pid {bigint} NOT NULL,
                started_at {bigint} NOT NULL,
                heartbeat_at {bigint} NOT NULL)""",
            """CREATE TABLE partition_leases (
                group_name {text} NOT NULL,
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                owner {text} NOT NULL,
                expires_at {bigint} NOT NULL,
                PRIMARY KEY (group_name, topic, partition))""",
        ),
    ),
    (
        "retention: keep what groups have not read unless told; count what is dropped",
        (
            "ALTER TABLE topics ADD COLUMN retention_drop_unconsumed {bigint} NOT NULL DEFAULT 0",
            """CREATE TABLE group_dropped (
                group_name {text} NOT NULL,
                topic {text} NOT NULL,
                dropped {bigint} NOT NULL,
                updated_at {bigint} NOT NULL,
                PRIMARY KEY (group_name, topic))""",
        ),
    ),
)
