"""Storage: a ``Store`` chosen by URL, migrated on open.

``sqlite:///path.db`` (the embedded default) and ``postgresql://...`` are the two backends.
This is the only place that knows which URL means which backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from artery.errors import ConfigError, StoreReadOnly
from artery.store.engine import SqlStore
from artery.store.migrations import Schema, applied_versions, behind, migrate
from artery.store.protocol import Dialect, Row, Store, Tx

__all__ = [
    "LARGEST_INTEGER",
    "Dialect",
    "Row",
    "Schema",
    "SqlStore",
    "Store",
    "Tx",
    "dialect_for",
    "masked_url",
    "open_store",
]

DEFAULT_URL = "sqlite:///artery.db"
# The largest integer every backend stores (SQLite INTEGER, PostgreSQL BIGINT). An id,
# offset or count above it cannot name anything stored; drivers fail on it with an
# OverflowError, so the edges refuse it first.
LARGEST_INTEGER = 2**63 - 1


_USERINFO = re.compile(r"^([A-Za-z][\w+.-]*:/*[^/:@]*):[^@]*@")
_PASSWORD_OPTION = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def masked_url(url: str) -> str:
    """``url`` with any password (``user:password@`` or a ``password=`` option) replaced
    by ``***``, whatever the scheme: every message that names a store URL goes through
    here, since a URL may be echoed back to a user, a log or a CI transcript."""
    return _PASSWORD_OPTION.sub(r"\1***", _USERINFO.sub(r"\1:***@", url))


def dialect_for(url: str, *, sqlite_synchronous: str = "FULL") -> Dialect:
    if url.startswith("sqlite:"):
        from artery.store.sqlite import SqliteDialect

        return SqliteDialect(url, synchronous=sqlite_synchronous)
    if url.startswith(("postgresql:", "postgres:")):
        from artery.store.postgres import PostgresDialect

        return PostgresDialect(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"unknown store URL scheme {scheme!r} in {masked_url(url)!r}",
        fix="use sqlite:///path/to/artery.db or postgresql://user@host:5432/dbname",
    )


async def open_store(
    url: str = DEFAULT_URL,
    *,
    sqlite_synchronous: str = "FULL",
    schemas: Sequence[Schema] | None = None,
) -> SqlStore:
    """Open a store and apply pending migrations; raises ``StoreUnavailable`` if unreachable.

    ``schemas`` are the packages' tables in the order they apply; by default Artery's own
    (``artery.schema.SCHEMAS``)."""
    schemas = default_schemas() if schemas is None else schemas
    store = SqlStore(dialect_for(url, sqlite_synchronous=sqlite_synchronous))
    try:
        try:
            await store.write(lambda tx: migrate(tx, schemas))
        except StoreReadOnly:
            await _check_readable(store, schemas)  # a read-only store still serves reads
    except BaseException:
        await store.close()
        raise
    return store


def default_schemas() -> Sequence[Schema]:
    """Artery's packages' schemas. Imported when first needed: they belong to packages
    built on the store, which import it themselves."""
    from artery.schema import SCHEMAS

    return SCHEMAS


async def _check_readable(store: SqlStore, schemas: Sequence[Schema]) -> None:
    """Re-raise the current ``StoreReadOnly`` unless the store can be read at the schema
    versions this release needs (it cannot be migrated while read-only)."""
    try:
        applied = await store.read(applied_versions)
    except Exception:
        raise StoreReadOnly(
            f"store {store.dialect.display_url} is read-only and cannot be read either",
            fix="make the file and its directory writable for this user",
        ) from None
    lags = behind(applied, schemas)
    if lags:
        raise StoreReadOnly(
            f"store {store.dialect.display_url} is read-only and needs schema migrations"
            f" ({', '.join(map(str, lags))})",
            fix="make it writable once so this release can migrate it",
        )
