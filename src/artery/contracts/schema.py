"""The contract registry's tables: subjects and their numbered, immutable versions.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "subjects and versions",
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
        ),
    ),
)
