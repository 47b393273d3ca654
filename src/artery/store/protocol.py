"""The contracts between the core and its databases.

The core writes its storage logic once, as plain functions over a ``Tx`` (a transaction
that speaks SQL with ``?`` placeholders). A ``Store`` runs those functions durably: writes
are group-committed (many concurrent callers share one transaction), reads run on reader
connections. A ``Dialect`` is everything a backend differs in; it lives in ``sqlite.py`` or
``postgres.py`` and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction. Statements use ``?`` placeholders on every backend."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    @property
    def dialect(self) -> Dialect: ...


class Connection(Protocol):
    """The part of a DB-API connection the engine uses."""

    def cursor(self) -> Any: ...
    def close(self) -> None: ...


class Dialect(Protocol):
    """What differs between databases: connecting, SQL spelling, failure classification."""

    name: str
    url: str
    display_url: str  # the URL with any password masked, for messages
    begin_write: str
    begin_read: str  # "" runs reads in autocommit, without an explicit transaction
    for_update: str  # appended to a SELECT that locks its rows ("" where the database has none)
    skip_locked: str  # the same, skipping rows another transaction holds

    def connect(self, *, write: bool) -> Connection: ...
    def sql(self, text: str) -> str: ...
    def ddl(self, text: str) -> str: ...
    def migration_lock(self, tx: Tx) -> None: ...
    def columns(self, tx: Tx, table: str) -> list[str]:
        """The column names of ``table`` in the store's schema ([] if there is no such
        table): the migrations runner tells an old layout of its own table by them."""
        ...

    def is_disconnect(self, exc: BaseException) -> bool: ...
    def pipeline(self, conn: Connection) -> contextlib.AbstractContextManager[Any]:
        """Send a batch's statements without waiting for each result, where supported."""
        ...

    def is_transient(self, exc: BaseException) -> bool: ...
    def is_operational(self, exc: BaseException) -> bool:
        """The database could not do the work (disk full, I/O error), as opposed to refusing
        the data (a number out of range): the same write may succeed later."""
        ...

    def is_conflict(self, exc: BaseException) -> bool: ...

    def notify(self, tx: Tx, channel: str, payload: str) -> None:
        """Tell the processes listening on ``channel`` once ``tx`` commits (PostgreSQL's
        NOTIFY; a no-op where the database can only ``announce`` after commit)."""
        ...

    def announce(self, channel: str, payload: str) -> None:
        """The same, called after the commit, for databases that cannot notify inside a
        transaction (SQLite: unix datagrams to the processes sharing the file)."""
        ...

    def listen(self, channel: str) -> AsyncIterator[str] | None:
        """Payloads notified on ``channel`` by any process, for as long as it is iterated;
        None where the database cannot notify."""
        ...


class Store(Protocol):
    """Durable transactions for the core. Both methods are safe to call concurrently."""

    dialect: Dialect

    async def write(self, op: Callable[[Tx], T]) -> T:
        """Run ``op`` in a write transaction; returns once it is committed (durable)."""
        ...

    async def read(self, op: Callable[[Tx], T]) -> T:
        """Run ``op`` in a read-only snapshot."""
        ...

    async def close(self) -> None: ...
