"""Runs storage functions on blocking drivers without blocking the event loop.

Writes go to one writer thread that group-commits: it takes every write waiting in its
queue (up to ``max_batch``), runs them in one transaction and commits once, so one fsync
serves many callers and throughput grows with concurrency. When one function in a batch
raises, the batch is rolled back and each function is re-run in a transaction of its own,
so a bad write fails alone and nothing of it is half-written. Should a rollback fail as
well, its callers get their own error (not the rollback's), the writer opens a fresh
connection, and writes already committed are still reported committed. Reads run on a
small pool of reader threads with their own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from artery.errors import ArteryError, StoreUnavailable
from artery.store.protocol import Connection, Dialect, Row

T = TypeVar("T")
Op = Callable[["SqlTx"], Any]


class SqlTx:
    """A ``Tx`` over a DB-API cursor, translating ``?`` placeholders for the dialect."""

    __slots__ = ("_cur", "dialect")

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self._cur = conn.cursor()
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(self.dialect.sql(sql), params)
        if not _returns_rows(sql):  # pipelined writes must not wait for a result
            return []
        return list(self._cur.fetchall())

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        if len(rows) == 1:  # psycopg sets up a pipeline per executemany: not for one row
            self._cur.execute(self.dialect.sql(sql), rows[0])
        elif rows:
            self._cur.executemany(self.dialect.sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None


@functools.lru_cache(maxsize=4096)
def _returns_rows(sql: str) -> bool:
    """Whether a statement yields rows, decided from its text: in pipeline mode the cursor
    cannot tell before the results are awaited, and awaiting them is the cost we avoid."""
    head = sql.lstrip()[:8].upper()
    starts = ("SELECT", "PRAGMA", "WITH", "SHOW", "VALUES", "EXPLAIN", "TABLE")
    return head.startswith(starts) or " RETURNING " in sql.upper()


@dataclass(slots=True)
class _Job:
    op: Op
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class SqlStore:
    """The one ``Store`` implementation; the ``Dialect`` makes it SQLite or PostgreSQL."""

    def __init__(self, dialect: Dialect, *, readers: int = 2, max_batch: int = 2048) -> None:
        self.dialect = dialect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="artery-writer", daemon=True)
        self._local = threading.local()
        self._reader_conns: list[Connection] = []
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="artery-reader")
        self._closed = False
        self.commits = 0  # transactions committed by the writer (for metrics and tests)
        self.writes = 0  # write functions those transactions carried
        self._writer.start()

    async def write(self, op: Callable[[SqlTx], T]) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed", fix="open the app again")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(op, future, loop))
        return await future

    async def read(self, op: Callable[[SqlTx], T]) -> T:
        if self._closed:
            raise StoreUnavailable("the store is closed", fix="open the app again")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, op)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()

    # -- reader side -------------------------------------------------------------------

    def _run_read(self, op: Callable[[SqlTx], T]) -> T:
        conn: Connection | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self.dialect.connect(write=False)
                self._local.conn = conn
                self._reader_conns.append(conn)
            tx = SqlTx(conn, self.dialect)
            if not self.dialect.begin_read:  # autocommit: each statement its own snapshot
                return op(tx)
            tx.execute(self.dialect.begin_read)
            try:
                return op(tx)
            finally:
                tx.execute("ROLLBACK")
        except Exception as exc:
            if self.dialect.is_disconnect(exc):
                self._local.conn = None
                if conn is not None:
                    _close_quietly(conn)
                    with contextlib.suppress(ValueError):
                        self._reader_conns.remove(conn)
                raise self._unavailable(exc) from exc
            raise

    # -- writer side -------------------------------------------------------------------

    def _write_loop(self) -> None:
        conn: Connection | None = None
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(job)
            conn = self._commit_batch(conn, batch)
        if conn is not None:
            conn.close()

    def _commit_batch(self, conn: Connection | None, batch: list[_Job]) -> Connection | None:
        """Commit one batch; the writer thread survives any failure and reports it to callers."""
        try:
            if conn is None:
                conn = self.dialect.connect(write=True)
            outcomes = self._run_together(conn, batch)
        except _BatchFailed:  # rolled back: each job alone, so a bad one fails alone
            assert conn is not None
            conn, outcomes = self._run_each(conn, batch)
        except Exception as exc:  # nothing of the batch was committed
            failure = self._failure(exc, connected=conn is not None)
            if conn is None or isinstance(exc, _RollbackFailed) or self.dialect.is_disconnect(exc):
                _close_quietly(conn)  # its state is unknown: replace it
                conn = None
            _deliver(batch, [(False, failure)] * len(batch))
            return conn
        _deliver(batch, outcomes)
        return conn

    def _run_each(
        self, conn: Connection | None, batch: list[_Job]
    ) -> tuple[Connection | None, list[tuple[bool, Any]]]:
        """Jobs before a broken one have committed and must be reported so (callers would
        retry and write twice): a job whose connection breaks fails alone, the others go on
        over a fresh connection."""
        outcomes: list[tuple[bool, Any]] = []
        for job in batch:
            try:
                if conn is None:
                    conn = self.dialect.connect(write=True)
                outcomes.append(self._run_together(conn, [job])[0])
            except Exception as exc:
                outcomes.append((False, self._failure(exc, connected=conn is not None)))
                _close_quietly(conn)
                conn = None
        return conn, outcomes

    def _run_together(
        self, conn: Connection, batch: list[_Job], tries: int = 3
    ) -> list[tuple[bool, Any]]:
        try:
            with self.dialect.pipeline(conn) if len(batch) > 1 else contextlib.nullcontext():
                tx = SqlTx(conn, self.dialect)
                tx.execute(self.dialect.begin_write)
                results = [job.op(tx) for job in batch]
                tx.execute("COMMIT")
        except Exception as exc:
            if self.dialect.is_disconnect(exc):
                raise
            self._roll_back(conn, exc)
            if self.dialect.is_transient(exc) and tries > 1:
                time.sleep(0.005 * random.random())  # another process's lock order; retry
                return self._run_together(conn, batch, tries - 1)
            if len(batch) == 1:
                return [(False, exc)]
            raise _BatchFailed from exc
        self.commits += 1
        self.writes += len(batch)
        return [(True, result) for result in results]

    def _roll_back(self, conn: Connection, cause: Exception) -> None:
        """A rollback that fails (SQLite has already rolled back after a full disk, say)
        must never hide the error that made it necessary: the callers get ``cause``."""
        try:
            SqlTx(conn, self.dialect).execute("ROLLBACK")
        except Exception as exc:
            raise _RollbackFailed(cause) from exc

    def _failure(self, exc: Exception, *, connected: bool) -> Exception:
        """What callers get when the store, not their function, failed: the batch's own
        error rather than its rollback's, and ``StoreUnavailable`` for a lost connection."""
        cause = exc.cause if isinstance(exc, _RollbackFailed) else exc
        if isinstance(cause, ArteryError):
            return cause
        if not connected or self.dialect.is_disconnect(cause):
            return self._unavailable(cause)
        return cause

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailable(
            f"store {self.dialect.display_url} is unreachable: {first_line}",
            fix="check that the database is running and the URL is right (artery doctor)",
        )


class _BatchFailed(Exception):
    """A batch failed and was rolled back: its jobs are re-run one by one."""


class _RollbackFailed(Exception):
    """A batch failed and its rollback failed too; carries the batch's own error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _deliver(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
    """Hand results back to each caller's loop: one wake-up per loop, not per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, tuple[bool, Any]]]] = {}
    for job, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(job.loop, []).append((job, outcome))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop is gone; nobody waits
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[_Job, tuple[bool, Any]]]) -> None:
    for job, (ok, value) in pairs:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _close_quietly(conn: Connection | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):  # already broken; closing is best effort
        conn.close()
