"""The store runs storage functions durably, group-committed, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from artery.errors import ConfigError, StoreUnavailable
from artery.schema import SCHEMAS
from artery.store import SqlStore, Tx, open_store
from artery.store.engine import SqlTx


def _make_table(tx: Tx) -> None:
    tx.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")


def _put(key: str, value: str):  # type: ignore[no-untyped-def]
    def op(tx: Tx) -> str:
        tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", (key, value))
        return key

    return op


def _keys(tx: Tx) -> list[str]:
    return [r[0] for r in tx.execute("SELECT k FROM kv ORDER BY k")]


async def test_committed_write_is_visible_to_reads(store: SqlStore) -> None:
    await store.write(_make_table)
    assert await store.write(_put("a", "1")) == "a"
    assert await store.read(_keys) == ["a"]


async def test_concurrent_writes_share_transactions(store: SqlStore) -> None:
    await store.write(_make_table)
    commits_before, writes_before = store.commits, store.writes
    await asyncio.gather(*(store.write(_put(f"k{i:03}", "v")) for i in range(300)))
    assert len(await store.read(_keys)) == 300
    assert store.writes - writes_before == 300
    assert store.commits - commits_before < 100, "group commit should batch concurrent writes"


async def test_failing_write_fails_alone_and_leaves_nothing_behind(store: SqlStore) -> None:
    await store.write(_make_table)

    def half_then_fail(tx: Tx) -> None:
        tx.execute("INSERT INTO kv (k, v) VALUES ('bad', 'half-written')")
        raise ValueError("boom")

    results = await asyncio.gather(
        *(store.write(_put(f"good{i}", "v")) for i in range(20)),
        store.write(half_then_fail),
        *(store.write(_put(f"more{i}", "v")) for i in range(20)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    keys = await store.read(_keys)
    assert "bad" not in keys
    assert len(keys) == 40


async def test_constraint_violation_is_reported_to_its_caller(store: SqlStore) -> None:
    await store.write(_make_table)
    await store.write(_put("dup", "1"))
    with pytest.raises(Exception) as info:
        await store.write(_put("dup", "2"))
    assert store.dialect.is_conflict(info.value)


async def test_slow_write_does_not_block_the_event_loop(store: SqlStore) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await store.write(lambda tx: time.sleep(0.3))
    task.cancel()
    assert ticks >= 10


async def test_migrations_are_idempotent(store_url: str) -> None:
    first = await open_store(store_url)
    await first.close()
    second = await open_store(store_url)
    rows = await second.read(
        lambda tx: tx.execute("SELECT package, version FROM artery_migrations")
    )
    await second.close()
    versions: dict[str, list[int]] = {}
    for package, version in rows:
        versions.setdefault(package, []).append(version)
    assert {p: sorted(v) for p, v in versions.items()} == {
        s.package: list(range(1, s.version + 1)) for s in SCHEMAS
    }


async def test_sqlite_is_durable_by_default(sqlite_url: str) -> None:
    store = await open_store(sqlite_url)
    mode = await store.write(lambda tx: tx.one("PRAGMA synchronous"))
    journal = await store.write(lambda tx: tx.one("PRAGMA journal_mode"))
    await store.close()
    assert mode == (2,)  # FULL
    assert journal == ("wal",)


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("mysql://localhost/x", "unknown store URL scheme 'mysql'"),
        ("sqlite://", "in-memory SQLite is not supported"),
        ("sqlite:///no/such/dir/a.db", "does not exist"),
    ],
)
async def test_bad_store_url_names_the_problem_and_fix(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        await open_store(url)
    assert fragment in str(info.value)
    assert info.value.fix


async def test_unreachable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable) as info:
        await open_store("postgresql://postgres@127.0.0.1:1/test")
    assert "127.0.0.1:1" in str(info.value)
    assert "artery doctor" in str(info.value)


async def test_statements_that_yield_rows_return_them(store: SqlStore) -> None:
    await store.write(_make_table)
    await store.write(_put("a", "1"))
    assert await store.read(lambda tx: tx.execute("VALUES (1)")) == [(1,)]
    returned = await store.write(
        lambda tx: tx.execute("UPDATE kv SET v = '2' WHERE k = 'a' RETURNING v")
    )
    assert returned == [("2",)]
    if store.dialect.name == "postgresql":
        assert await store.read(lambda tx: tx.execute("SHOW synchronous_commit")) == [("on",)]


async def test_a_failing_rollback_never_hides_the_error_that_caused_it(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.write(_make_table)
    execute = SqlTx.execute

    def rollback_fails(tx: SqlTx, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if sql == "ROLLBACK":
            raise RuntimeError("cannot rollback - no transaction is active")
        return execute(tx, sql, params)

    def half_then_fail(tx: Tx) -> None:
        tx.execute("INSERT INTO kv (k, v) VALUES ('bad', 'half-written')")
        raise ValueError("the real cause")

    monkeypatch.setattr(SqlTx, "execute", rollback_fails)
    with pytest.raises(ValueError, match="the real cause"):
        await store.write(half_then_fail)
    monkeypatch.undo()
    assert await store.write(_put("after", "1")) == "after"
    assert await store.read(_keys) == ["after"], "nothing of the failed write is kept"


async def test_a_failing_rollback_in_the_split_fails_only_its_own_write(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch fails each write is re-run alone; when one of those rollbacks fails,
    the writes that already committed must be reported committed (callers would retry and
    write twice), and the ones after it still run."""
    await store.write(_make_table)
    execute = SqlTx.execute
    rollbacks: list[str] = []
    started, release = threading.Event(), threading.Event()

    def later_rollbacks_fail(tx: SqlTx, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if sql == "ROLLBACK":
            rollbacks.append(sql)
            if len(rollbacks) > 1:  # the batch's own rollback works, the split's does not
                raise RuntimeError("cannot rollback - no transaction is active")
        return execute(tx, sql, params)

    def hold_the_writer(tx: Tx) -> None:
        started.set()
        assert release.wait(10), "the test never released the writer"

    def half_then_fail(tx: Tx) -> None:
        tx.execute("INSERT INTO kv (k, v) VALUES ('bad', 'half-written')")
        raise ValueError("the real cause")

    holder = asyncio.ensure_future(store.write(hold_the_writer))
    assert await asyncio.to_thread(started.wait, 10)
    monkeypatch.setattr(SqlTx, "execute", later_rollbacks_fail)
    writes = [
        *(store.write(_put(f"before{i}", "v")) for i in range(3)),
        store.write(half_then_fail),
        *(store.write(_put(f"after{i}", "v")) for i in range(3)),
    ]
    batch = asyncio.gather(*writes, return_exceptions=True)
    for _ in range(1000):  # every write queued behind the held writer: one batch
        if store._queue.qsize() == len(writes):
            break
        await asyncio.sleep(0.001)
    release.set()
    await holder
    results = await batch
    monkeypatch.undo()
    assert len(rollbacks) == 2, "the batch failed, then the bad write alone"
    assert results[:3] == ["before0", "before1", "before2"]
    assert isinstance(results[3], ValueError) and "the real cause" in str(results[3])
    assert results[4:] == ["after0", "after1", "after2"]
    keys = await store.read(_keys)
    assert keys == ["after0", "after1", "after2", "before0", "before1", "before2"]
