"""Each package's tables migrate on their own version line; old stores open unchanged."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from legacy_schema import OLD_MIGRATIONS, migrate_the_old_way

from artery.errors import ConfigError, StoreReadOnly
from artery.schema import SCHEMAS
from artery.store import Schema, SqlStore, Tx, dialect_for, open_store
from artery.store.migrations import LEGACY_VERSIONS, applied_versions, behind

T = TypeVar("T")
LATEST = {s.package: s.version for s in SCHEMAS}
# Each package as the last global-version release left it: converting an old store's
# versions amounts to exactly this, before any later migration applies.
AT_LEGACY = {
    p: max((v for n in LEGACY_VERSIONS.values() for q, v in n if q == p), default=0) for p in LATEST
}  # a package born after the global versions (gateway) starts at 0
LEGACY_SCHEMAS = tuple(Schema(s.package, s.migrations[: AT_LEGACY[s.package]]) for s in SCHEMAS)
AUDIT = Schema(  # a package to come: how a new one joins
    "audit",
    (("entries", ("CREATE TABLE future_entries (id {text} PRIMARY KEY, what {text})",)),),
)


def recorded(tx: Tx) -> list[tuple[str, int, str, int]]:
    rows = tx.execute(
        "SELECT package, version, name, applied_at FROM artery_migrations ORDER BY package, version"
    )
    return [(str(p), int(v), str(n), int(a)) for p, v, n, a in rows]


def layout(tx: Tx) -> dict[str, list[str]]:
    """Every Artery table's columns, in order: two stores with equal layouts hold the same
    schema."""
    tables = [
        statement.split()[2]
        for schema in SCHEMAS
        for _, statements in schema.migrations
        for statement in statements
        if statement.startswith("CREATE TABLE")
    ]
    return {table: tx.dialect.columns(tx, table) for table in tables}


async def old_store(url: str, upto: int) -> None:
    """A store as the last global-version release left it at ``upto``, with rows in it."""
    store = SqlStore(dialect_for(url))
    try:
        await store.write(lambda tx: migrate_the_old_way(tx, upto))
        await store.write(lambda tx: put_rows(tx, upto))
    finally:
        await store.close()


async def read_raw(url: str, op: Callable[[Tx], T]) -> T:
    """Read a store without migrating it."""
    store = SqlStore(dialect_for(url))
    try:
        return await store.read(op)
    finally:
        await store.close()


def put_rows(tx: Tx, upto: int) -> None:
    """A row in a table of each package the old versions created."""
    tx.execute(
        "INSERT INTO contract_subjects (subject, compatibility, owner, description, created_at)"
        " VALUES ('orders', 'BACKWARD', 'team-orders', NULL, 1)"
    )
    tx.execute(
        "INSERT INTO topics (name, subject, partitions, retention_ms, retention_count,"
        " created_at) VALUES ('orders', 'orders', 2, NULL, NULL, 1)"
    )
    tx.execute(
        "INSERT INTO events (topic, partition, event_offset, id, contract_version,"
        " appended_at, body) VALUES ('orders', 0, 0, 'e-1', 1, 1, ?)",
        (b"{}",),
    )
    if upto >= 2:
        tx.execute("INSERT INTO completions VALUES ('g', 'e-1', 1)")
    if upto >= 3:
        tx.execute("INSERT INTO workflow_schedules VALUES ('nightly', 7)")


def rows_kept(tx: Tx) -> list[object]:
    return [
        tx.one("SELECT owner FROM contract_subjects WHERE subject = 'orders'"),
        tx.one("SELECT partitions, retention_drop_unconsumed FROM topics WHERE name = 'orders'"),
        tx.one("SELECT id FROM events WHERE topic = 'orders'"),
        tx.one("SELECT event_id FROM completions WHERE group_name = 'g'"),
        tx.one("SELECT last_tick FROM workflow_schedules WHERE name = 'nightly'"),
    ]


def kept_after(upto: int) -> list[object]:
    """What ``rows_kept`` finds once a store left at ``upto`` is opened."""
    return [
        ("team-orders",),
        (2, 0),
        ("e-1",),
        ("e-1",) if upto >= 2 else None,
        (7,) if upto >= 3 else None,
    ]


async def test_fresh_store_records_each_package_from_version_1(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        rows = await store.read(recorded)
    finally:
        await store.close()
    expected = [
        (s.package, version, name)
        for s in SCHEMAS
        for version, (name, _) in enumerate(s.migrations, start=1)
    ]
    assert sorted((p, v, n) for p, v, n, _ in rows) == sorted(expected)
    assert LATEST == {
        "contracts": 1,
        "log": 3,
        "delivery": 2,
        "workflows": 4,
        "gateway": 1,
        "webhooks": 3,
        "observe": 3,
        "govern": 1,
        "console": 1,
    }


async def test_reopening_applies_nothing_again(store_url: str) -> None:
    first = await open_store(store_url)
    before = await first.read(recorded)
    await first.close()
    second = await open_store(store_url)
    try:
        assert await second.read(recorded) == before
    finally:
        await second.close()


async def test_store_migrated_by_old_global_versions_opens_with_rows_and_versions(
    store_url: str,
) -> None:
    await old_store(store_url, upto=len(OLD_MIGRATIONS))
    before = await read_raw(store_url, layout)
    store = await open_store(store_url, schemas=LEGACY_SCHEMAS)
    try:
        rows = await store.read(recorded)
        kept = await store.read(rows_kept)
        after = await store.read(layout)
    finally:
        await store.close()
    assert kept == kept_after(len(OLD_MIGRATIONS))
    assert after == before, "no table may change when only the versions are converted"
    # each per-package version carries the time its old global version was applied
    assert [(p, v, a) for p, v, _, a in rows] == [
        ("contracts", 1, 1),
        ("delivery", 1, 2),
        ("log", 1, 1),
        ("log", 2, 2),
        ("log", 3, 4),
        ("workflows", 1, 3),
    ]
    names = {(s.package, v): n for s in LEGACY_SCHEMAS for v, (n, _) in enumerate(s.migrations, 1)}
    assert {(p, v): n for p, v, n, _ in rows} == names


@pytest.mark.parametrize("upto", [1, 2, 3])
async def test_partly_migrated_old_store_gets_only_what_it_lacks(store_url: str, upto: int) -> None:
    await old_store(store_url, upto=upto)
    store = await open_store(store_url)
    try:
        rows = await store.read(recorded)
        kept = await store.read(rows_kept)
    finally:
        await store.close()
    assert kept == kept_after(upto)
    old = {(p, v) for n in range(1, upto + 1) for p, v in LEGACY_VERSIONS[n]}
    converted = {(p, v) for p, v, _, applied_at in rows if applied_at <= upto}
    assert converted == old
    assert {(p, v) for p, v, _, _ in rows} == {
        (s.package, v) for s in SCHEMAS for v in range(1, s.version + 1)
    }


async def test_upgraded_layout_matches_a_fresh_store(tmp_path: Path) -> None:
    await old_store(f"sqlite:///{tmp_path}/old.db", upto=len(OLD_MIGRATIONS))
    layouts = []
    for name in ("old.db", "fresh.db"):
        store = await open_store(f"sqlite:///{tmp_path}/{name}")
        try:
            layouts.append(await store.read(layout))
        finally:
            await store.close()
    assert layouts[0] == layouts[1]
    assert "retention_drop_unconsumed" in layouts[0]["topics"]


async def test_a_new_package_adds_its_tables_without_touching_other_versions(
    store_url: str,
) -> None:
    await (await open_store(store_url)).close()
    store = await open_store(store_url, schemas=(*SCHEMAS, AUDIT))
    try:
        await store.write(lambda tx: tx.execute("INSERT INTO future_entries VALUES ('a', 'u')"))
        assert await store.read(applied_versions) == {**LATEST, "audit": 1}
    finally:
        await store.close()
    grown = Schema(
        "audit",
        (*AUDIT.migrations, ("what", ("CREATE INDEX w ON future_entries (what)",))),
    )
    store = await open_store(store_url, schemas=(*SCHEMAS, grown))
    try:
        assert await store.read(applied_versions) == {**LATEST, "audit": 2}
    finally:
        await store.close()


def test_behind_names_each_package_below_its_latest() -> None:
    lags = behind({"contracts": 1, "log": 2}, SCHEMAS)
    assert [str(lag) for lag in lags] == [
        "log v2 of 3",
        "delivery v0 of 2",
        "workflows v0 of 4",
        "gateway v0 of 1",
        "webhooks v0 of 3",
        "observe v0 of 3",
        "govern v0 of 1",
        "console v0 of 1",
    ]
    assert behind(LATEST, SCHEMAS) == []


async def test_a_package_listed_twice_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="more than once: log"):
        await open_store(sqlite_url, schemas=(*SCHEMAS, SCHEMAS[1]))


async def test_an_old_version_no_release_wrote_is_refused(sqlite_url: str) -> None:
    store = SqlStore(dialect_for(sqlite_url))
    try:
        await store.write(lambda tx: migrate_the_old_way(tx, len(OLD_MIGRATIONS)))
        await store.write(
            lambda tx: tx.execute("INSERT INTO artery_migrations VALUES (5, 'future', 5)")
        )
    finally:
        await store.close()
    with pytest.raises(ConfigError, match=r"v5 \('future'\), which no Artery release wrote"):
        await open_store(sqlite_url)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Read-only even for root (tests run as root): the kernel refuses every write."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make {path} immutable with chattr +i: {exc}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, timeout=10)


async def test_read_only_old_store_is_readable_when_its_versions_suffice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    await old_store(url, upto=len(OLD_MIGRATIONS))
    with immutable(tmp_path):
        store = await open_store(url, schemas=LEGACY_SCHEMAS)
        try:
            assert await store.read(rows_kept) == kept_after(len(OLD_MIGRATIONS))
            at_legacy = {package: v for package, v in AT_LEGACY.items() if v}
            assert await store.read(applied_versions) == at_legacy
        finally:
            await store.close()


async def test_read_only_store_behind_names_the_packages_it_lacks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    await old_store(url, upto=2)
    with immutable(tmp_path), pytest.raises(StoreReadOnly) as info:
        await open_store(url, schemas=(*SCHEMAS, AUDIT))
    lacking = (
        "log v2 of 3, delivery v1 of 2, workflows v0 of 4, gateway v0 of 1, webhooks v0 of 3,"
        " observe v0 of 3, govern v0 of 1, console v0 of 1, audit v0 of 1"
    )
    assert f"needs schema migrations ({lacking})" in str(info.value)
