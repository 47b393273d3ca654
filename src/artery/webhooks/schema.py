"""The webhooks' tables. Sources: each source's calls accepted and when last (liveness), its
rejections counted per reason, and its last rejected calls, redacted. Destinations: each
one's state (failing since, disabled) and every delivery attempt.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "webhook sources: liveness, rejection counts, last rejections",
        (
            # ``first_seen_at``: when a process first served the source; a source that never
            # got a call is silent once ``expect_every`` has passed since then.
            """CREATE TABLE webhook_sources (
                name {text} PRIMARY KEY,
                first_seen_at {bigint} NOT NULL,
                last_accepted_at {bigint},
                accepted {bigint} NOT NULL)""",
            """CREATE TABLE webhook_rejection_counts (
                source {text} NOT NULL,
                reason {text} NOT NULL,
                rejected {bigint} NOT NULL,
                last_at {bigint} NOT NULL,
                PRIMARY KEY (source, reason))""",
            # Only the last calls per source are kept; headers with credentials and every
            # value of the body are redacted before a row is written.
            """CREATE TABLE webhook_rejections (
                id {id},
                source {text} NOT NULL,
                at {bigint} NOT NULL,
                reason {text} NOT NULL,
                status {bigint} NOT NULL,
                detail {text} NOT NULL,
                request_id {text},
                headers_json {text} NOT NULL,
                body_json {text} NOT NULL)""",
            "CREATE INDEX webhook_rejections_source ON webhook_rejections (source, id)",
        ),
    ),
    (
        "webhook destinations: state and every delivery attempt",
        (
            # ``failing_since``: the first failure of the current streak (NULL after a
            # success); ``disabled_at`` set by 410 Gone, a streak over ``disable_after``,
            # or a person.
            """CREATE TABLE webhook_destination_state (
                name {text} PRIMARY KEY,
                failing_since {bigint},
                disabled_at {bigint},
                disabled_reason {text})""",
            """CREATE TABLE webhook_attempts (
                id {id},
                destination {text} NOT NULL,
                event_id {text} NOT NULL,
                event_type {text} NOT NULL,
                topic {text} NOT NULL,
                event_partition {bigint} NOT NULL,
                event_offset {bigint} NOT NULL,
                attempt {bigint} NOT NULL,
                trigger {text} NOT NULL,
                at {bigint} NOT NULL,
                outcome {text} NOT NULL,
                status {bigint},
                latency_us {bigint} NOT NULL,
                response {text},
                error {text})""",
            "CREATE INDEX webhook_attempts_at ON webhook_attempts (destination, at)",
            "CREATE INDEX webhook_attempts_event ON webhook_attempts (destination, event_id)",
        ),
    ),
    (
        "webhook destinations made at run time",
        (
            # ``spec_json``: the arguments of ``webhook_destination`` (the secret by name);
            # every process polls this table and starts, changes or stops deliveries.
            """CREATE TABLE webhook_destinations (
                name {text} PRIMARY KEY,
                spec_json {text} NOT NULL,
                created_at {bigint} NOT NULL,
                updated_at {bigint} NOT NULL)""",
        ),
    ),
)
