"""Delivery's own tables: retries, dead letters, completions, rate limits, breakers.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "retries, dead letters, completions, rate limits, breakers",
        (
            """CREATE TABLE retries (
                group_name {text} NOT NULL,
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                event_offset {bigint} NOT NULL,
                consumer {text} NOT NULL,
                attempt {bigint} NOT NULL,
                due_at {bigint} NOT NULL,
                body {blob} NOT NULL,
                errors_json {text} NOT NULL,
                PRIMARY KEY (group_name, topic, partition, event_offset))""",
            "CREATE INDEX retries_due ON retries (group_name, topic, partition, due_at)",
            """CREATE TABLE dead_letters (
                id {id},
                group_name {text} NOT NULL,
                consumer {text} NOT NULL,
                topic {text} NOT NULL,
                partition {bigint} NOT NULL,
                event_offset {bigint} NOT NULL,
                event_id {text} NOT NULL,
                event_type {text} NOT NULL,
                body {blob} NOT NULL,
                reason {text} NOT NULL,
                errors_json {text} NOT NULL,
                created_at {bigint} NOT NULL,
                redriven_at {bigint})""",
            "CREATE INDEX dead_letters_by_group ON dead_letters (group_name, redriven_at)",
            "CREATE INDEX dead_letters_by_event ON dead_letters (group_name, event_id)",
            """CREATE TABLE completions (
                group_name {text} NOT NULL,
                event_id {text} NOT NULL,
                completed_at {bigint} NOT NULL,
                PRIMARY KEY (group_name, event_id))""",
            """CREATE TABLE rate_limits (
                name {text} PRIMARY KEY,
                tat {bigint} NOT NULL)""",
            """CREATE TABLE breaker_states (
                name {text} PRIMARY KEY,
                state {text} NOT NULL,
                failures {bigint} NOT NULL,
                calls {bigint} NOT NULL,
                changed_at {bigint} NOT NULL,
                reported_by {text} NOT NULL)""",
        ),
    ),
    (
        "dead letters know their integration",
        (
            # NULL on rows buried before: their integration is unknown, not guessed.
            "ALTER TABLE dead_letters ADD COLUMN integration {text}",
        ),
    ),
)
