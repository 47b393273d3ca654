"""The registry keeps numbered immutable versions and enforces compatibility on register."""

from __future__ import annotations

import asyncio

import pytest

from artery.contracts import Classification, Registry
from artery.contracts.registry import ContractVersion
from artery.errors import ContractViolation, IncompatibleSchema, InvalidSchema, UnknownContract
from artery.store import SqlStore

V1 = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "total": {"type": "number"}},
    "required": ["id"],
    "additionalProperties": False,
}
V2_OPTIONAL_FIELD = {
    **V1,
    "properties": {**V1["properties"], "note": {"type": "string"}},  # type: ignore[dict-item]
}
V2_NEW_REQUIRED = {**V2_OPTIONAL_FIELD, "required": ["id", "note"]}


@pytest.fixture
def registry(store: SqlStore) -> Registry:
    return Registry(store)


async def test_versions_are_numbered_from_one(registry: Registry) -> None:
    first = await registry.register("orders", V1, owner="team-orders")
    second = await registry.register("orders", V2_OPTIONAL_FIELD)
    assert (first.version, second.version) == (1, 2)
    assert (await registry.get("orders")).version == 2
    assert (await registry.get("orders", 1)).schema == V1
    (subject,) = await registry.subjects()
    assert (subject.name, subject.versions, subject.owner) == ("orders", (1, 2), "team-orders")


async def test_registering_the_same_schema_returns_the_existing_version(registry: Registry) -> None:
    first = await registry.register("orders", V1)
    again = await registry.register("orders", dict(reversed(list(V1.items()))))
    assert again.version == first.version == 1
    assert len(await registry.versions("orders")) == 1


async def test_incompatible_version_is_refused_with_every_problem(registry: Registry) -> None:
    await registry.register("orders", V1, compatibility="backward")
    with pytest.raises(IncompatibleSchema) as info:
        await registry.register("orders", V2_NEW_REQUIRED)
    assert info.value.problems, "the refusal lists the incompatibilities"
    assert "note" in str(info.value)
    assert len(await registry.versions("orders")) == 1


async def test_mode_none_accepts_anything(registry: Registry) -> None:
    await registry.register("orders", V1, compatibility="none")
    assert (await registry.register("orders", V2_NEW_REQUIRED)).version == 2


async def test_check_reports_without_registering(registry: Registry) -> None:
    await registry.register("orders", V1)
    assert await registry.check("orders", V2_OPTIONAL_FIELD) == []
    assert await registry.check("orders", V2_NEW_REQUIRED) != []
    assert len(await registry.versions("orders")) == 1


async def test_concurrent_registrations_get_distinct_versions(registry: Registry) -> None:
    await registry.register("orders", V1, compatibility="none")
    schemas = [{**V1, "title": f"variant {i}"} for i in range(10)]
    stored = await asyncio.gather(*(registry.register("orders", s) for s in schemas))
    assert sorted(v.version for v in stored) == list(range(2, 12))


@pytest.mark.parametrize(
    "schema, fragment",
    [
        ({"type": "bogus"}, "invalid JSON Schema at /type"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "unsupported $schema"),
        ({"$ref": "https://example.com/x.json"}, "points outside the document"),
        ({"x-artery-classification": "top-secret"}, "bad x-artery-classification"),
        ([1, 2], "must be a JSON object or boolean"),
    ],
)
async def test_unusable_schema_is_refused(
    registry: Registry, schema: object, fragment: str
) -> None:
    with pytest.raises(InvalidSchema) as info:
        await registry.register("orders", schema)
    assert fragment in str(info.value)
    assert await registry.subjects() == []


async def test_examples_must_satisfy_their_schema(registry: Registry) -> None:
    with pytest.raises(InvalidSchema, match="example 1"):
        await registry.register("orders", V1, examples=[{"id": "a"}, {"total": 1}])


async def test_unknown_subject_names_the_fix(registry: Registry) -> None:
    with pytest.raises(UnknownContract, match="artery contracts register"):
        await registry.get("nope")


async def test_validate_lists_every_violation_with_pointer_and_keyword(
    registry: Registry,
) -> None:
    version = await registry.register("orders", V1)
    with pytest.raises(ContractViolation) as info:
        registry.validate(version, {"total": "ten"})
    found = {(v.pointer, v.keyword) for v in info.value.violations}
    assert found == {("", "required"), ("/total", "type")}


async def test_sensitive_paths_follow_refs_and_arrays(registry: Registry) -> None:
    schema = {
        "$defs": {
            "card": {
                "type": "object",
                "properties": {"pan": {"type": "string", "x-artery-classification": "secret"}},
            }
        },
        "type": "object",
        "properties": {
            "email": {"type": "string", "x-artery-classification": "pii"},
            "country": {"type": "string", "x-artery-classification": "public"},
            "payments": {"type": "array", "items": {"$ref": "#/$defs/card"}},
        },
    }
    await registry.register("customers", schema)
    assert await registry.sensitive_paths("customers") == {
        "/email": Classification.PII,
        "/payments/*/pan": Classification.SECRET,
    }


async def test_a_slow_compatibility_check_does_not_hold_up_other_writes(
    registry: Registry, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import artery.contracts.registry as registry_module

    await registry.register("orders", V1)
    real_check = registry_module.check

    def slow_check(*args: object, **options: object) -> list[object]:
        time.sleep(0.6)  # an adversarial schema can take seconds to prove compatible
        return real_check(*args, **options)  # type: ignore[arg-type, no-any-return]

    monkeypatch.setattr(registry_module, "check", slow_check)
    registering = asyncio.create_task(registry.register("orders", V2_OPTIONAL_FIELD))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await store.write(lambda tx: tx.execute("SELECT 1"))
    assert time.monotonic() - started < 0.3, "the writer thread was blocked by the check"
    assert (await registering).version == 2


async def test_sensitive_paths_of_every_version_are_cached_until_a_new_version(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(store)
    pii = {"x-artery-classification": "pii"}
    await registry.register("people", {"type": "object", "properties": {"email": pii}})
    reads = 0
    versions = registry.versions

    async def counted(subject: str) -> list[ContractVersion]:
        nonlocal reads
        reads += 1
        return await versions(subject)

    monkeypatch.setattr(registry, "versions", counted)
    assert await registry.sensitive_paths_anywhere("people") == ["/email"]
    assert await registry.sensitive_paths_anywhere("people") == ["/email"]
    assert reads == 1  # a partner failing every event costs no read per failure
    await registry.register(
        "people", {"type": "object", "properties": {"email": pii, "phone": pii}}
    )
    assert await registry.sensitive_paths_anywhere("people") == ["/email", "/phone"]
    assert await registry.sensitive_paths_anywhere("nobody") is None
