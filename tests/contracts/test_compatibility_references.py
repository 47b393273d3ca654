"""Compatibility through references and context: sound where it answers, never "compatible"
for what it cannot decide, and not stricter than it must be.

Each incompatible answer is backed by a witness: a value the writer accepts and the reader
rejects, checked with jsonschema-rs.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from artery.contracts.compatibility import Compatibility, Schema, check, reader_incompatibilities


def valid(schema: Schema, instance: Any) -> bool:
    return bool(jsonschema_rs.validator_for(schema).is_valid(instance))


def kinds(reader: Schema, writer: Schema) -> set[str]:
    return {i.kind for i in reader_incompatibilities(reader, writer)}


def dynamic(leaf: str) -> dict[str, Any]:
    return {
        "type": "object",
        "$defs": {"t": {"$dynamicAnchor": "t", "type": leaf}},
        "properties": {"a": {"$dynamicRef": "#t"}},
    }


def anchored(leaf: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "$defs": {"email": {"$anchor": "email", "type": leaf}},
        "properties": {"to": {"$ref": "#email"}},
    }


def test_dynamic_ref_target_changing_type_is_incompatible() -> None:
    v1, v2 = dynamic("string"), dynamic("integer")
    problems = check(Compatibility.FULL, v2, [(1, v1)])
    assert {p.direction for p in problems} == {"backward", "forward"}
    assert valid(v1, {"a": "x"}) and not valid(v2, {"a": "x"})  # the witness


def test_dynamic_ref_in_a_single_resource_can_evolve() -> None:
    assert check(Compatibility.BACKWARD, dynamic("number"), [(1, dynamic("integer"))]) == []


def test_anchor_refs_are_followed_so_the_schema_can_evolve() -> None:
    widened, narrowed = anchored(["string", "null"]), anchored("integer")
    assert check(Compatibility.BACKWARD, widened, [(1, anchored("string"))]) == []
    assert kinds(narrowed, anchored("string")) == {"TYPE_CHANGED"}
    assert valid(anchored("string"), {"to": "a"}) and not valid(narrowed, {"to": "a"})


SELF_REFERENCING: list[dict[str, Any]] = [
    {"anyOf": [{"type": "string"}, {"$ref": "#"}]},
    {"oneOf": [{"type": "object", "properties": {"n": {"$ref": "#"}}}, {"type": "null"}]},
    {"$dynamicAnchor": "node", "type": "array", "items": {"$dynamicRef": "#node"}},
    {
        "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}},
        "anyOf": [{"type": "string"}, {"$ref": "#/$defs/a"}],
    },
]


@pytest.mark.parametrize("schema", SELF_REFERENCING)
def test_self_referencing_schema_is_compatible_with_itself(schema: dict[str, Any]) -> None:
    assert check(Compatibility.FULL_TRANSITIVE, schema, [(1, schema), (2, schema)]) == []
    annotated = {**schema, "description": "v2", "title": "same meaning"}
    assert check(Compatibility.FULL, annotated, [(1, schema)]) == []


def test_refs_inside_an_embedded_resource_are_refused_not_resolved_against_the_root() -> None:
    def version(inner: str) -> dict[str, Any]:
        return {
            "$defs": {
                "y": {"type": "string"},  # what '#/$defs/y' would wrongly mean from the root
                "part": {
                    "$id": "https://example.com/part",
                    "$defs": {"y": {"type": inner}},
                    "properties": {"v": {"$ref": "#/$defs/y"}},
                },
            },
            "$ref": "#/$defs/part",
        }

    v1, v2 = version("string"), version("integer")
    assert valid(v1, {"v": "x"}) and not valid(v2, {"v": "x"})  # really incompatible
    problems = check(Compatibility.BACKWARD, v2, [(1, v1)])
    assert problems and all("cannot prove" in p.reason for p in problems)
    assert check(Compatibility.FULL, v1, [(1, v1)]) == []  # the same document still is


def test_unevaluated_properties_depends_on_what_its_siblings_evaluate() -> None:
    writer = {"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False}
    reader = {"type": "object", "unevaluatedProperties": False}
    assert valid(writer, {"a": 1}) and not valid(reader, {"a": 1})
    assert reader_incompatibilities(reader, writer)
    through_all_of = {"allOf": [{"properties": {"b": {}}}], "unevaluatedProperties": False}
    writer_all_of = {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False}
    assert valid(writer_all_of, {"a": 1}) and not valid(through_all_of, {"a": 1})
    assert reader_incompatibilities(through_all_of, writer_all_of)


def test_unevaluated_items_depends_on_what_its_siblings_evaluate() -> None:
    writer = {"type": "array", "prefixItems": [{}], "unevaluatedItems": False}
    reader = {"type": "array", "unevaluatedItems": False}
    assert valid(writer, [1]) and not valid(reader, [1])
    assert reader_incompatibilities(reader, writer)


def test_object_closed_by_unevaluated_properties_can_gain_an_optional_property() -> None:
    v1 = {"type": "object", "properties": {"a": {"type": "string"}}, "unevaluatedProperties": False}
    v2 = {**v1, "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert check(Compatibility.BACKWARD, v2, [(1, v1)]) == []
    assert kinds(v1, v2) == {"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"}
    assert valid(v2, {"b": 1}) and not valid(v1, {"b": 1})


def test_conditional_is_judged_as_a_whole_if_then_else() -> None:
    writer = {"if": {"type": "string"}, "then": {"type": "string", "maxLength": 1}}
    always = {**writer, "if": {}}  # `if` widened to {}: `then` now always applies
    assert valid(writer, 1) and not valid(always, 1)
    assert kinds(always, writer) == {"CONDITIONAL_SCHEMA_CHANGED"}
    assert kinds({**writer, "else": {"type": "integer"}}, writer) == {"CONDITIONAL_SCHEMA_CHANGED"}
    widened, narrow = {**writer, "type": ["string", "integer"]}, {**writer, "type": "string"}
    assert reader_incompatibilities(widened, narrow) == []  # the same conditional on both
    assert reader_incompatibilities({"if": {"type": "string"}}, writer) == []  # asserts nothing
