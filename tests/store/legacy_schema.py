"""History: the schema as Artery applied it before each package owned its migrations.

One global tuple, versions 1..4 recorded in ``artery_migrations(version, name, applied_at)``.
Copied verbatim from the last release that wrote it, so tests can build a store exactly as
that release left it. Never edit.
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store import Tx

OLD_MIGRATIONS: Sequence[tuple[str, Sequence[str]]] = (
    (
        "contracts and event log",
        (
            """CREATE TABLE contract_subjects (
                subject {text} PRIMARY KEY,
                compatibility {text} NOT NULL,
                owner {text},
                description {text},
                created_at {bigint} NOT NULL)""",
            """CREATE TABLE contract_versions (
                subject {text} NOT NULL,
                version {bigint} NOT NULL,
                fingerprint {text} NOT NULL,
                schema_json {text} NOT NULL,
                owner {text},
                description {text},
                examples_json {text} NOT NULL,
                created_at {bigint} NOT NULL,
                PRIMARY KEY (subject, version))""",
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
        "delivery: leases, retries, dead letters, completions, limits, breakers",
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
        "workflows: runs, steps, signals, schedules",
        (
            """CREATE TABLE workflow_runs (
                run_id {text} PRIMARY KEY,
                workflow {text} NOT NULL,
                status {text} NOT NULL,
                input_json {text} NOT NULL,
                result_json {text},
                error_json {text},
                parent_run {text},
                started_by {text} NOT NULL,
                flagged {bigint} NOT NULL DEFAULT 0,
                cancel_requested {bigint} NOT NULL DEFAULT 0,
                patches_json {text} NOT NULL DEFAULT '[]',
                owner {text},
                lease_until {bigint},
                wake_at {bigint},
                created_at {bigint} NOT NULL,
                updated_at {bigint} NOT NULL)""",
            "CREATE INDEX workflow_runs_runnable ON workflow_runs (status, wake_at)",
            "CREATE INDEX workflow_runs_by_parent ON workflow_runs (parent_run)",
            """CREATE TABLE workflow_steps (
                run_id {text} NOT NULL,
                position {bigint} NOT NULL,
                kind {text} NOT NULL,
                name {text} NOT NULL,
                status {text} NOT NULL,
                result_json {text},
                error_json {text},
                attempts {bigint} NOT NULL,
                started_at {bigint} NOT NULL,
                finished_at {bigint} NOT NULL,
                PRIMARY KEY (run_id, position))""",
            """CREATE TABLE workflow_signals (
                id {id},
                run_id {text} NOT NULL,
                name {text} NOT NULL,
                payload_json {text} NOT NULL,
                created_at {bigint} NOT NULL,
                consumed_at {bigint})""",
            "CREATE INDEX workflow_signals_by_run ON workflow_signals (run_id, name, consumed_at)",
            """CREATE TABLE workflow_schedules (
                name {text} PRIMARY KEY,
                last_tick {bigint} NOT NULL)""",
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


def migrate_the_old_way(tx: Tx, upto: int) -> None:
    """The old runner, applying global versions 1..``upto`` at applied_at = version."""
    tx.execute(
        tx.dialect.ddl(
            """CREATE TABLE IF NOT EXISTS artery_migrations (
                version {bigint} PRIMARY KEY, name {text} NOT NULL, applied_at {bigint} NOT NULL)"""
        )
    )
    for version, (name, statements) in enumerate(OLD_MIGRATIONS[:upto], start=1):
        for statement in statements:
            tx.execute(tx.dialect.ddl(statement))
        tx.execute(
            "INSERT INTO artery_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, version),
        )
