"""SQLite: the embedded default. WAL for concurrent readers, ``synchronous=FULL`` by default
so that a write acknowledged to a caller survives power loss."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from artery.errors import ConfigError, StoreReadOnly
from artery.store import masked_url
from artery.store.protocol import Tx
from artery.store.wakeups import Datagrams


async def _only(channel: str, received: AsyncIterator[str]) -> AsyncIterator[str]:
    async for message in received:
        name, _, payload = message.partition("\n")
        if name == channel or not message:  # "": the socket is bound
            yield payload


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
        parent = Path(self.path).parent
        if not parent.is_dir():
            raise ConfigError(
                f"directory {str(parent)!r} for SQLite store {self.display_url!r} does not exist",
                fix="create it or point ARTERY_STORE at an existing directory",
            )
        read_only = self.read_only()
        if read_only and write:
            raise StoreReadOnly(
                f"store {self.display_url} is read-only: {read_only}",
                fix="make it writable for this user; commands that only read"
                " (contracts list, tail, ...) work as it is",
            )
        if read_only:
            return self._connect_read_only()
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    def read_only(self) -> str | None:
        """Why this process cannot write the store, or ``None``. ``os.access`` asks the
        kernel, so a read-only mount or an immutable file counts even for root."""
        path = Path(self.path)
        if path.exists() and not os.access(path, os.W_OK):
            return f"the file {str(path)!r} is not writable"
        if not os.access(path.parent, os.W_OK):
            return (
                f"the directory {str(path.parent)!r} is not writable"
                " (SQLite creates its -wal and -shm files beside the database)"
            )
        return None

    def _connect_read_only(self) -> sqlite3.Connection:
        """Open for reading only. Where SQLite cannot create the shared-memory file (a
        read-only directory), the file is opened as immutable: nobody can write it there
        either, so there are no changes to lock against."""
        path = Path(self.path).resolve()
        options = "mode=ro"
        if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists():
            options += "&immutable=1"
        uri = f"{path.as_uri()}?{options}"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        return conn

    def sql(self, text: str) -> str:
        return text

    def ddl(self, text: str) -> str:
        for token, spelling in _DDL.items():
            text = text.replace(token, spelling)
        return text

    def migration_lock(self, tx: Tx) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's single write lock."""

    def columns(self, tx: Tx, table: str) -> list[str]:
        return [row[0] for row in tx.execute("SELECT name FROM pragma_table_info(?)", (table,))]

    def is_disconnect(self, exc: BaseException) -> bool:
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        text = str(exc).lower()
        return any(s in text for s in ("locked", "disk i/o", "unable to open", "readonly"))

    def notify(self, tx: Tx, channel: str, payload: str) -> None:
        """Nothing inside the transaction: SQLite announces after commit (``announce``)."""

    def announce(self, channel: str, payload: str) -> None:
        """Tell the store's other processes, once committed (unix datagrams)."""
        self.datagrams.send(f"{channel}\n{payload}")

    def listen(self, channel: str) -> AsyncIterator[str] | None:
        return _only(channel, self.datagrams.receive())

    @functools.cached_property
    def datagrams(self) -> Datagrams:
        """The file's wake-up folder, found once (a path resolve and a hash)."""
        return Datagrams(self.path)

    def pipeline(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """In-process library: there are no round trips to save."""
        return contextlib.nullcontext()

    def is_transient(self, exc: BaseException) -> bool:
        """A single writer per file never deadlocks; lock waits are busy_timeout's job."""
        return False

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def is_operational(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError)  # "database or disk is full", ...


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
