"""Versioned schema migrations, applied on open, idempotently, by one process at a time.

Each package owns its tables: its ``schema.py`` declares ``MIGRATIONS``, a list of
``(name, statements)`` numbered from 1, written once with dialect tokens (``{bigint}``,
``{blob}``, ``{id}``, ``{text}``). Never edit a released migration; append a new one.

The store knows no package: it is handed ``Schema`` values (package name, migrations) in
the order they apply and records ``(package, version)`` in ``artery_migrations``, so a
package adds tables without touching anyone else's versions. The list Artery applies lives
in ``artery.schema``.

Stores migrated before versions were kept per package recorded one global version; they
are converted on open by ``LEGACY_VERSIONS`` (no DDL runs again, no row is lost).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from artery.errors import ConfigError
from artery.store.protocol import Tx

Migration = tuple[str, Sequence[str]]

TABLE = "artery_migrations"
_CREATE = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    package {{text}} NOT NULL,
    version {{bigint}} NOT NULL,
    name {{text}} NOT NULL,
    applied_at {{bigint}} NOT NULL,
    PRIMARY KEY (package, version))"""

# The old global versions 1..4 and the per-package versions each one amounts to. History:
# never edit; a store this table does not cover was not migrated by an Artery release.
LEGACY_VERSIONS: Mapping[int, tuple[tuple[str, int], ...]] = {
    1: (("contracts", 1), ("log", 1)),
    2: (("log", 2), ("delivery", 1)),
    3: (("workflows", 1),),
    4: (("log", 3),),
}


@dataclass(frozen=True)
class Schema:
    """One package's tables, as the migrations that build them."""

    package: str
    migrations: Sequence[Migration]

    @property
    def version(self) -> int:
        return len(self.migrations)


@dataclass(frozen=True)
class Lag:
    """A package whose tables are behind what this release needs."""

    package: str
    applied: int
    needed: int

    def __str__(self) -> str:
        return f"{self.package} v{self.applied} of {self.needed}"


def applied_versions(tx: Tx) -> dict[str, int]:
    """The version each package's tables are at; a package never migrated is absent.
    Raises if the store was never migrated at all (there is nothing to read)."""
    legacy = _legacy_rows(tx)
    if legacy is not None:
        versions: dict[str, int] = {}
        for package, version, _ in _converted(legacy):
            versions[package] = max(version, versions.get(package, 0))
        return versions
    rows = tx.execute(f"SELECT package, MAX(version) FROM {TABLE} GROUP BY package")
    return {str(package): int(version) for package, version in rows}


def behind(applied: Mapping[str, int], schemas: Sequence[Schema]) -> list[Lag]:
    """The packages of ``schemas`` whose applied version is below their latest."""
    return [
        Lag(s.package, applied.get(s.package, 0), s.version)
        for s in schemas
        if applied.get(s.package, 0) < s.version
    ]


def migrate(tx: Tx, schemas: Sequence[Schema]) -> dict[str, int]:
    """Bring every package in ``schemas`` up to date, in the order given; returns the
    versions now in force."""
    _check_unique(schemas)
    tx.dialect.migration_lock(tx)
    _convert_legacy(tx, schemas)
    tx.execute(tx.dialect.ddl(_CREATE))
    applied = applied_versions(tx)
    for schema in schemas:
        current = applied.get(schema.package, 0)
        for version, (name, statements) in enumerate(schema.migrations, start=1):
            if version > current:
                for statement in statements:
                    tx.execute(tx.dialect.ddl(statement))
                _record(tx, schema.package, version, name, int(time.time() * 1_000_000))
                applied[schema.package] = version
    return applied


def _record(tx: Tx, package: str, version: int, name: str, applied_at: int) -> None:
    tx.execute(
        f"INSERT INTO {TABLE} (package, version, name, applied_at) VALUES (?, ?, ?, ?)",
        (package, version, name, applied_at),
    )


def _check_unique(schemas: Sequence[Schema]) -> None:
    packages = [s.package for s in schemas]
    twice = sorted({p for p in packages if packages.count(p) > 1})
    if twice:
        raise ConfigError(
            f"schema packages declared more than once: {', '.join(twice)}",
            fix="list each package's schema once",
        )


def _legacy_rows(tx: Tx) -> list[tuple[int, str, int]] | None:
    """``(version, name, applied_at)`` of a store still in the global layout, else None."""
    columns = tx.dialect.columns(tx, TABLE)
    if not columns or "package" in columns:
        return None
    rows = tx.execute(f"SELECT version, name, applied_at FROM {TABLE} ORDER BY version")
    return [(int(version), str(name), int(applied_at)) for version, name, applied_at in rows]


def _converted(legacy: Sequence[tuple[int, str, int]]) -> list[tuple[str, int, int]]:
    """``(package, version, applied_at)`` for each per-package version the old global
    versions amount to; the old version's time stands for each of its packages."""
    converted = []
    for version, name, applied_at in legacy:
        if version not in LEGACY_VERSIONS:
            raise ConfigError(
                f"the store records schema migration v{version} ({name!r}),"
                " which no Artery release wrote",
                fix="open it with the release that migrated it",
            )
        converted += [(package, v, applied_at) for package, v in LEGACY_VERSIONS[version]]
    return converted


def _convert_legacy(tx: Tx, schemas: Sequence[Schema]) -> None:
    """Rewrite a global-layout ``artery_migrations`` as per-package rows, in the caller's
    transaction: a failure leaves the old table as it was. Rows take the package's own
    migration names, so a converted store reads as if it had been migrated per package."""
    legacy = _legacy_rows(tx)
    if legacy is None:
        return
    names = {(s.package, n): name for s in schemas for n, (name, _) in enumerate(s.migrations, 1)}
    tx.execute(f"DROP TABLE {TABLE}")
    tx.execute(tx.dialect.ddl(_CREATE))
    for package, version, applied_at in _converted(legacy):
        name = names.get((package, version), f"{package} v{version}")
        _record(tx, package, version, name, applied_at)
