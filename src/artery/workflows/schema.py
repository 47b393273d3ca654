"""The workflow engine's tables: runs, their steps and signals, schedules.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "runs, steps, signals, schedules",
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
        "runs know their integration",
        (
            # NULL on runs started before: their integration is unknown, not guessed.
            "ALTER TABLE workflow_runs ADD COLUMN integration {text}",
        ),
    ),
    (
        "runs remember the trace they were started in",
        (
            # the W3C traceparent current when the run was started (NULL: none), so its
            # steps' spans join the trace of the event or request that started it
            "ALTER TABLE workflow_runs ADD COLUMN traceparent {text}",
        ),
    ),
    (
        "runs listed newest first without sorting the table",
        (
            # the admin API's and the console's run lists read ORDER BY created_at DESC
            # LIMIT n: without it, every listing sorted all runs (bench/console.py)
            "CREATE INDEX workflow_runs_by_created ON workflow_runs (created_at)",
        ),
    ),
)
