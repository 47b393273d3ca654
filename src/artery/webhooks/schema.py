"""The webhook sources' tables: each source's calls accepted and when last (liveness), its
rejections counted per reason, and its last rejected calls, redacted.

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
)
