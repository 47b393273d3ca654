"""The console's own table: signed-in sessions.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "console sessions",
        (
            # Only the SHA-256 of the session cookie is kept, like an API key's. A session
            # belongs to the API key it was exchanged for and dies with it.
            """CREATE TABLE console_sessions (
                id_hash {text} PRIMARY KEY,
                key_prefix {text} NOT NULL,
                subject {text} NOT NULL,
                csrf {text} NOT NULL,
                created_at {bigint} NOT NULL,
                expires_at {bigint} NOT NULL)""",
            "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
        ),
    ),
)
