"""The contract registry: subjects with numbered, immutable schema versions.

Registering is idempotent (the same document returns the existing version, as in
Confluent Schema Registry) and atomic: the compatibility check and the insert happen in
one write transaction, so two registrations cannot both become version N.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import orjson

from artery.contracts.classification import Classification, sensitive_paths
from artery.contracts.compatibility import Compatibility, Incompatibility, check
from artery.contracts.compatibility.budget import DEFAULT_BUDGET
from artery.contracts.validation import CompiledSchema, check_schema
from artery.errors import (
    ConfigError,
    Conflict,
    ContractViolation,
    IncompatibleSchema,
    InvalidSchema,
    UnknownContract,
)
from artery.store import Store, Tx

DEFAULT_COMPATIBILITY = Compatibility.BACKWARD
MAX_RACES = 100  # concurrent registrations to one subject retry their check this often
LATEST_TTL = 5.0  # seconds a process trusts its idea of a subject's latest version


@dataclass(frozen=True)
class ContractVersion:
    subject: str
    version: int
    schema: Any
    fingerprint: str
    owner: str | None = None
    description: str | None = None
    examples: tuple[Any, ...] = ()
    created_at: int = 0


@dataclass(frozen=True)
class Subject:
    name: str
    compatibility: Compatibility
    owner: str | None
    description: str | None
    latest_version: int
    versions: tuple[int, ...] = field(default=())


@overload
def parse_mode(mode: Compatibility | str) -> Compatibility: ...
@overload
def parse_mode(mode: None) -> None: ...
@overload
def parse_mode(mode: Compatibility | str | None) -> Compatibility | None: ...


def parse_mode(mode: Compatibility | str | None) -> Compatibility | None:
    """A compatibility mode from user text (``backward``, ``full-transitive``, any case),
    with an error that lists the valid ones: the one parser for the API, the CLI and
    declarations, so every face accepts and refuses the same spellings."""
    if mode is None or isinstance(mode, Compatibility):
        return mode
    try:
        return Compatibility.parse(mode)
    except ValueError:
        raise ConfigError(
            f"unknown compatibility mode {mode!r}",
            fix="use one of " + ", ".join(m.value.lower() for m in Compatibility),
        ) from None


def fingerprint(schema: Any) -> str:
    return hashlib.sha256(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Registry:
    """Contract versions in the store, with compiled validators cached per version."""

    def __init__(self, store: Store, *, check_budget: float = DEFAULT_BUDGET) -> None:
        self._store = store
        self._check_budget = check_budget  # seconds a compatibility check may take
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}
        self._latest: dict[str, tuple[float, ContractVersion]] = {}
        self._classified: dict[str, tuple[float, list[str] | None]] = {}

    async def register(
        self,
        subject: str,
        schema: Any,
        *,
        owner: str | None = None,
        description: str | None = None,
        examples: Sequence[Any] = (),
        compatibility: Compatibility | str | None = None,
    ) -> ContractVersion:
        """Add a version (or return the identical existing one); refuse incompatible ones."""
        _check_subject_name(subject)
        compiled = CompiledSchema(schema)
        for index, example in enumerate(examples):
            problems = compiled.violations(example)
            if problems:
                raise InvalidSchema(
                    f"example {index} of {subject!r} does not satisfy its own schema: "
                    + "; ".join(map(str, problems)),
                    fix="correct the example or the schema",
                )
        mode = parse_mode(compatibility)
        candidate = ContractVersion(
            subject=subject,
            version=0,
            schema=schema,
            fingerprint=fingerprint(schema),
            owner=owner,
            description=description,
            examples=tuple(examples),
            created_at=int(time.time() * 1_000_000),
        )
        for _ in range(MAX_RACES):
            stored = await self._try_register(candidate, mode)
            if stored is not None:
                self._compiled[(subject, stored.version)] = compiled
                self._latest.pop(subject, None)
                self._classified.pop(subject, None)
                return stored
        raise Conflict(
            f"contract {subject!r} kept changing while this version was being checked",
            fix="register again",
        )

    async def _try_register(
        self, candidate: ContractVersion, mode: Compatibility | None
    ) -> ContractVersion | None:
        """Check compatibility off the store's writer thread (a hard schema can take
        seconds), then insert only if nobody registered or changed the mode meanwhile."""
        subject = candidate.subject
        stored_mode, previous = await self._store.read(
            lambda tx: (_stored_mode(tx, subject), _load_versions(tx, subject))
        )
        for existing in previous:
            if existing.fingerprint == candidate.fingerprint and mode in (None, stored_mode):
                return existing
        effective = mode or stored_mode or DEFAULT_COMPATIBILITY
        history = [(v.version, v.schema) for v in previous]
        # The check polls its own deadline: at the budget it stops and refuses, so no thread
        # keeps comparing after the caller has its answer.
        problems = await asyncio.to_thread(
            check, effective, candidate.schema, history, budget=self._check_budget
        )
        if problems:
            raise IncompatibleSchema(subject, effective.value, problems)
        latest = previous[-1].version if previous else 0
        return await self._store.write(
            lambda tx: _register(tx, candidate, effective, stored_mode, latest)
        )

    async def check(self, subject: str, schema: Any) -> list[Incompatibility]:
        """What registering ``schema`` under ``subject`` would break (empty: compatible)."""
        check_schema(schema)
        info = await self.subject(subject)
        previous = await self.versions(subject)
        history = [(v.version, v.schema) for v in previous]
        return await asyncio.to_thread(
            check, info.compatibility, schema, history, budget=self._check_budget
        )

    async def get(self, subject: str, version: int | None = None) -> ContractVersion:
        cached = self._latest.get(subject) if version is None else None
        if cached is not None and time.monotonic() - cached[0] < LATEST_TTL:
            return cached[1]
        found = await self._store.read(lambda tx: _load_version(tx, subject, version))
        if found is None:
            raise UnknownContract(
                f"contract {subject!r}"
                + ("" if version is None else f" has no version {version}")
                + ("" if version is not None else " is not registered"),
                fix="register it first (artery contracts register) or check the name",
            )
        if version is None:
            self._latest[subject] = (time.monotonic(), found)
        return found

    async def versions(self, subject: str) -> list[ContractVersion]:
        rows = await self._store.read(lambda tx: _load_versions(tx, subject))
        if not rows:
            raise UnknownContract(
                f"contract {subject!r} is not registered",
                fix="register it first (artery contracts register) or check the name",
            )
        return rows

    async def subject(self, subject: str) -> Subject:
        found = [s for s in await self.subjects() if s.name == subject]
        if not found:
            raise UnknownContract(
                f"contract {subject!r} is not registered",
                fix="register it first (artery contracts register) or check the name",
            )
        return found[0]

    async def subjects(self) -> list[Subject]:
        return await self._store.read(_load_subjects)

    def compiled(self, version: ContractVersion) -> CompiledSchema:
        key = (version.subject, version.version)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = CompiledSchema(version.schema)
        return compiled

    def validate(self, version: ContractVersion, data: Any) -> None:
        """Raise ``ContractViolation`` listing every violation of ``data``."""
        problems = self.compiled(version).violations(data)
        if problems:
            raise ContractViolation(version.subject, version.version, problems)

    async def sensitive_paths(
        self, subject: str, version: int | None = None
    ) -> dict[str, Classification]:
        return sensitive_paths((await self.get(subject, version)).schema)

    async def sensitive_paths_anywhere(self, subject: str) -> list[str] | None:
        """Sensitive paths in any version of ``subject`` (a payload may have been written
        under an older one), trusted for ``LATEST_TTL`` like the latest version, so a
        partner failing every event costs no store read per failure. None when the
        contract is unknown: then nothing is known safe."""
        cached = self._classified.get(subject)
        if cached is not None and time.monotonic() - cached[0] < LATEST_TTL:
            return cached[1]
        try:
            versions = await self.versions(subject)
        except UnknownContract:
            found = None
        else:
            found = sorted({path for v in versions for path in sensitive_paths(v.schema)})
        self._classified[subject] = (time.monotonic(), found)
        return found

    def forget_cache(self) -> None:
        self._latest.clear()
        self._classified.clear()


def _check_subject_name(subject: str) -> None:
    if not subject or len(subject) > 200 or any(c.isspace() for c in subject):
        raise InvalidSchema(
            f"bad contract subject {subject!r}",
            fix="use a dotted name without spaces, e.g. commerce.order.placed",
        )


def _stored_mode(tx: Tx, subject: str) -> Compatibility | None:
    row = tx.one("SELECT compatibility FROM contract_subjects WHERE subject = ?", (subject,))
    return None if row is None else Compatibility(row[0])


def _register(
    tx: Tx,
    candidate: ContractVersion,
    mode: Compatibility,
    checked_mode: Compatibility | None,
    checked_latest: int,
) -> ContractVersion | None:
    """Insert the checked version; None if the subject changed since it was checked."""
    subject = candidate.subject
    if _stored_mode(tx, subject) != checked_mode:
        return None
    previous = _load_versions(tx, subject)
    if (previous[-1].version if previous else 0) != checked_latest:
        return None
    if checked_mode is None:
        tx.execute(
            "INSERT INTO contract_subjects (subject, compatibility, owner, description, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (subject, mode.value, candidate.owner, candidate.description, candidate.created_at),
        )
    elif mode != checked_mode:
        tx.execute(
            "UPDATE contract_subjects SET compatibility = ? WHERE subject = ?",
            (mode.value, subject),
        )
    for existing in previous:
        if existing.fingerprint == candidate.fingerprint:
            return existing
    version = (previous[-1].version if previous else 0) + 1
    tx.execute(
        "INSERT INTO contract_versions (subject, version, fingerprint, schema_json, owner,"
        " description, examples_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            subject,
            version,
            candidate.fingerprint,
            orjson.dumps(candidate.schema).decode(),
            candidate.owner,
            candidate.description,
            orjson.dumps(list(candidate.examples)).decode(),
            candidate.created_at,
        ),
    )
    if candidate.owner or candidate.description:
        tx.execute(
            "UPDATE contract_subjects SET owner = COALESCE(?, owner),"
            " description = COALESCE(?, description) WHERE subject = ?",
            (candidate.owner, candidate.description, subject),
        )
    return ContractVersion(**{**candidate.__dict__, "version": version})


_VERSION_COLUMNS = (
    "subject, version, schema_json, fingerprint, owner, description, examples_json, created_at"
)


def _row_to_version(row: Any) -> ContractVersion:
    return ContractVersion(
        subject=row[0],
        version=int(row[1]),
        schema=orjson.loads(row[2]),
        fingerprint=row[3],
        owner=row[4],
        description=row[5],
        examples=tuple(orjson.loads(row[6])),
        created_at=int(row[7]),
    )


def _load_versions(tx: Tx, subject: str) -> list[ContractVersion]:
    rows = tx.execute(
        f"SELECT {_VERSION_COLUMNS} FROM contract_versions WHERE subject = ? ORDER BY version",
        (subject,),
    )
    return [_row_to_version(r) for r in rows]


def _load_version(tx: Tx, subject: str, version: int | None) -> ContractVersion | None:
    if version is None:
        row = tx.one(
            f"SELECT {_VERSION_COLUMNS} FROM contract_versions WHERE subject = ?"
            " ORDER BY version DESC LIMIT 1",
            (subject,),
        )
    else:
        row = tx.one(
            f"SELECT {_VERSION_COLUMNS} FROM contract_versions WHERE subject = ? AND version = ?",
            (subject, version),
        )
    return None if row is None else _row_to_version(row)


def _load_subjects(tx: Tx) -> list[Subject]:
    rows = tx.execute(
        "SELECT s.subject, s.compatibility, s.owner, s.description, v.version"
        " FROM contract_subjects s JOIN contract_versions v ON v.subject = s.subject"
        " ORDER BY s.subject, v.version"
    )
    subjects: dict[str, Subject] = {}
    for name, mode, owner, description, version in rows:
        prior = subjects.get(name)
        versions = (*(prior.versions if prior else ()), int(version))
        subjects[name] = Subject(
            name, Compatibility(mode), owner, description, versions[-1], versions
        )
    return list(subjects.values())
