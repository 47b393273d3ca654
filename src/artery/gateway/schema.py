"""The front door's own tables: API keys, signing keys, authorization decisions, idempotent
requests, deprecated calls, traffic splits and forwarded calls.

Never edit a released migration; append a new one (see ``artery.store.migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence

from artery.store.migrations import Migration

MIGRATIONS: Sequence[Migration] = (
    (
        "api keys, signing keys, decisions, idempotency, deprecations, splits, forwards",
        (
            # An API key is shown once; only its SHA-256 is kept (the key is 256 random
            # bits, so a fast hash is enough). ``prefix`` is the visible part, the lookup.
            """CREATE TABLE api_keys (
                prefix {text} PRIMARY KEY,
                name {text} NOT NULL,
                secret_hash {text} NOT NULL,
                scopes_json {text} NOT NULL,
                created_at {bigint} NOT NULL,
                expires_at {bigint},
                revoked_at {bigint},
                last_used_at {bigint})""",
            # Keys signing the access tokens this gateway issues; a retired key stays
            # published (JWKS) until ``retire_at`` so tokens it signed still verify.
            """CREATE TABLE signing_keys (
                kid {text} PRIMARY KEY,
                private_pem {text} NOT NULL,
                public_jwk {text} NOT NULL,
                created_at {bigint} NOT NULL,
                retire_at {bigint})""",
            """CREATE TABLE auth_decisions (
                id {id},
                at {bigint} NOT NULL,
                subject {text},
                credential {text},
                method {text} NOT NULL,
                path {text} NOT NULL,
                route {text},
                scopes {text} NOT NULL,
                outcome {text} NOT NULL,
                reason {text} NOT NULL,
                request_id {text})""",
            "CREATE INDEX auth_decisions_at ON auth_decisions (at)",
            "CREATE INDEX auth_decisions_credential ON auth_decisions (credential, at)",
            """CREATE TABLE idempotent_requests (
                client {text} NOT NULL,
                route {text} NOT NULL,
                idem_key {text} NOT NULL,
                fingerprint {text} NOT NULL,
                status {bigint},
                headers_json {text},
                body {blob},
                created_at {bigint} NOT NULL,
                expires_at {bigint} NOT NULL,
                PRIMARY KEY (client, route, idem_key))""",
            "CREATE INDEX idempotent_requests_expiry ON idempotent_requests (expires_at)",
            """CREATE TABLE deprecated_calls (
                route {text} NOT NULL,
                client {text} NOT NULL,
                calls {bigint} NOT NULL,
                first_at {bigint} NOT NULL,
                last_at {bigint} NOT NULL,
                PRIMARY KEY (route, client))""",
            """CREATE TABLE traffic_splits (
                route {text} PRIMARY KEY,
                percent {bigint} NOT NULL,
                header {text},
                changed_by {text} NOT NULL,
                changed_at {bigint} NOT NULL)""",
            """CREATE TABLE forwarded_calls (
                id {id},
                at {bigint} NOT NULL,
                route {text} NOT NULL,
                target {text} NOT NULL,
                method {text} NOT NULL,
                path {text} NOT NULL,
                status {bigint} NOT NULL,
                duration_us {bigint} NOT NULL,
                client {text},
                request_id {text})""",
            "CREATE INDEX forwarded_calls_at ON forwarded_calls (route, at)",
        ),
    ),
)
