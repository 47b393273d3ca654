"""Governance's own table: the audit trail of what people did through the console, the
admin API and the CLI.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "audit: who did what, through which channel",
        (
            """CREATE TABLE audit_entries (
                id {id},
                at {bigint} NOT NULL,
                actor {text} NOT NULL,
                channel {text} NOT NULL,
                action {text} NOT NULL,
                target {text},
                integration {text},
                detail {text})""",
            "CREATE INDEX audit_entries_by_at ON audit_entries (at)",
        ),
    ),
)
