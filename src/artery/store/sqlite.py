"""SQLite: the embedded default. WAL for concurrent readers, ``synchronous=FULL`` by default
so that a write acknowledged to a caller survives power loss."""

from __future__ import annotations

import contextlib
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from artery.errors import ConfigError
from artery.store import masked_url
from artery.store.protocol import Tx

_DDL = {
    "{id}": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "{blob}": "BLOB",
    "{bigint}": "INTEGER",
    "{text}": "TEXT",
}
_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class SqliteDialect:
    name = "sqlite"
    begin_write = "BEGIN IMMEDIATE"
    begin_read = "BEGIN"
    for_update = ""
    skip_locked = ""

    def __init__(self, url: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000):
        self.url = url
        self.display_url = masked_url(url)
        self.path = _path_from_url(url)
        if synchronous.upper() not in _SYNC_MODES:
            raise ConfigError(
                f"unknown SQLite synchronous mode {synchronous!r}",
                fix=f"use one of {', '.join(_SYNC_MODES)}",
            )
        self.synchronous = synchronous.upper()
        self.busy_timeout_ms = busy_timeout_ms

    def connect(self, *, write: bool) -> sqlite3.Connection:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise ConfigError(
                    f"directory {str(parent)!r} for SQLite store {self.display_url!r}"
                    " does not exist",
                    fix="create it or point ARTERY_STORE at an existing directory",
                )
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    def sql(self, text: str) -> str:
        return text

    def ddl(self, text: str) -> str:
        for token, spelling in _DDL.items():
            text = text.replace(token, spelling)
        return text

    def migration_lock(self, tx: Tx) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's single write lock."""

    def is_disconnect(self, exc: BaseException) -> bool:
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        text = str(exc).lower()
        return any(s in text for s in ("locked", "disk i/o", "unable to open", "readonly"))

    def pipeline(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """In-process library: there are no round trips to save."""
        return contextlib.nullcontext()

    def is_transient(self, exc: BaseException) -> bool:
        """A single writer per file never deadlocks; lock waits are busy_timeout's job."""
        return False

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)


@lru_cache(maxsize=64)
def _path_from_url(url: str) -> str:
    prefix = "sqlite:///"
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise ConfigError(
            "in-memory SQLite is not supported: readers and the writer need one shared file",
            fix="use sqlite:///path/to/artery.db",
        )
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"bad SQLite URL {masked_url(url)!r}",
            fix="write sqlite:///relative/path.db or sqlite:////absolute/path.db",
        )
    return url[len(prefix) :].split("?")[0]
