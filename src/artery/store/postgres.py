"""PostgreSQL through psycopg 3 (synchronous driver on the engine's threads).

The engine's writer and readers each hold one connection; with several processes the
database arbitrates (row locks, ``SKIP LOCKED``, advisory locks for migrations).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from artery.errors import ConfigError
from artery.store import masked_url
from artery.store.protocol import Tx

_DDL = {
    "{id}": "BIGSERIAL PRIMARY KEY",
    "{blob}": "BYTEA",
    "{bigint}": "BIGINT",
    "{text}": "TEXT",
}
_MIGRATION_LOCK_ID = 0x61727465  # "arte"


class PostgresDialect:
    name = "postgresql"
    begin_write = "BEGIN"
    # Reads run in autocommit: one round trip instead of three (BEGIN, SELECT, ROLLBACK).
    # Read functions are single statements or tolerate seeing commits between statements.
    begin_read = ""
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.display_url = masked_url(url)
        if not re.match(r"^postgres(ql)?://", url):
            raise ConfigError(
                f"bad PostgreSQL URL {self.display_url!r}",
                fix="write postgresql://user@host:5432/dbname",
            )
        try:
            conninfo_to_dict(url)  # unknown options are a bad URL, not an unreachable store
        except psycopg.ProgrammingError as exc:
            raise _bad_url(self.display_url, exc) from None
        self.url = url
        self.connect_timeout = connect_timeout

    def connect(self, *, write: bool) -> Any:
        try:
            return psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, int(self.connect_timeout)),
                application_name="artery-writer" if write else "artery-reader",
            )
        except psycopg.OperationalError as exc:
            # libpq checks option values (sslmode=wrong...) only when connecting
            if _BAD_VALUE.search(str(exc)):
                raise _bad_url(self.display_url, exc) from None
            raise

    def sql(self, text: str) -> str:
        return _translate(text)

    def ddl(self, text: str) -> str:
        for token, spelling in _DDL.items():
            text = text.replace(token, spelling)
        return text

    def migration_lock(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK_ID,))

    def columns(self, tx: Tx, table: str) -> list[str]:
        """Columns in the first schema of the search path, where unqualified names go."""
        rows = tx.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [row[0] for row in rows]

    def notify(self, tx: Tx, channel: str, payload: str) -> None:
        tx.execute("SELECT pg_notify(?, ?)", (channel, payload))

    def announce(self, channel: str, payload: str) -> None:
        """Nothing after commit: NOTIFY in the transaction was delivered at commit."""

    async def _listen(self, channel: str) -> AsyncIterator[str]:
        connection = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            connect_timeout=max(1, int(self.connect_timeout)),
            application_name="artery-listener",
        )
        async with connection:
            await connection.execute(f"LISTEN {channel}")
            yield ""  # listening
            async for note in connection.notifies():
                yield note.payload

    def listen(self, channel: str) -> AsyncIterator[str] | None:
        if not re.fullmatch(r"[a-z_]+", channel):
            raise ValueError(f"channel {channel!r} is not a plain identifier")
        return self._listen(channel)

    def pipeline(self, conn: Any) -> contextlib.AbstractContextManager[Any]:
        """psycopg pipeline mode: a batch's statements go out without a round trip each;
        results are awaited only where a statement's rows are read."""
        return conn.pipeline()  # type: ignore[no-any-return]

    def is_disconnect(self, exc: BaseException) -> bool:
        if _rolled_back(exc):
            return False  # deadlock or serialization failure: the connection is fine
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def is_transient(self, exc: BaseException) -> bool:
        """Deadlocks and serialization failures: running the transaction again succeeds."""
        return _rolled_back(exc)

    def is_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)

    def is_operational(self, exc: BaseException) -> bool:
        """Includes SQLSTATE classes 53 (disk full, out of memory) and 58 (I/O error)."""
        return isinstance(exc, psycopg.OperationalError)


_BAD_VALUE = re.compile(r"invalid [\w ]+ value", re.IGNORECASE)


def _bad_url(display_url: str, exc: Exception) -> ConfigError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"bad PostgreSQL URL {display_url!r}: {reason.removeprefix('connection is bad: ')}",
        fix="correct the option; see the libpq connection parameters",
    )


def _rolled_back(exc: BaseException) -> bool:
    """SQLSTATE class 40 (transaction rollback: deadlock, serialization failure)."""
    return isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith("40")


@lru_cache(maxsize=1024)
def _translate(text: str) -> str:
    """``?`` placeholders -> psycopg's ``%s`` (statements never contain a literal ``?``)."""
    return text.replace("%", "%%").replace("?", "%s")
