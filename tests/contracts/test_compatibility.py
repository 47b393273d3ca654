"""Specification of contract compatibility (artery.contracts.compatibility).

Vocabulary: the *writer* schema produced the data, the *reader* schema validates it. A change is
compatible when every value valid under the writer is valid under the reader. BACKWARD: the new
schema reads data of the previous one; FORWARD: the previous schema reads data of the new one.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from artery.contracts.compatibility import (
    Compatibility,
    Incompatibility,
    Schema,
    check,
    reader_incompatibilities,
)


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, **extra}


def found(reader: Schema, writer: Schema) -> set[tuple[str, str]]:
    """(pointer, kind) of everything that makes `reader` reject data valid under `writer`."""
    return {(i.pointer, i.kind) for i in reader_incompatibilities(reader, writer)}


def kinds(reader: Schema, writer: Schema) -> set[str]:
    return {kind for _, kind in found(reader, writer)}


def compatible(reader: Schema, writer: Schema) -> bool:
    return not reader_incompatibilities(reader, writer)


def valid(schema: Schema, instance: Any) -> bool:
    document = schema if isinstance(schema, bool) else dict(schema)
    return bool(jsonschema_rs.validator_for(document).is_valid(instance))


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("backward", Compatibility.BACKWARD),
        ("BACKWARD", Compatibility.BACKWARD),
        (" Forward ", Compatibility.FORWARD),
        ("full-transitive", Compatibility.FULL_TRANSITIVE),
        ("full_transitive", Compatibility.FULL_TRANSITIVE),
        ("Backward-Transitive", Compatibility.BACKWARD_TRANSITIVE),
        ("none", Compatibility.NONE),
    ],
)
def test_parse_is_case_insensitive_and_accepts_dashes(text: str, mode: Compatibility) -> None:
    assert Compatibility.parse(text) is mode


def test_parse_rejects_unknown_mode_and_names_the_choices() -> None:
    with pytest.raises(ValueError, match="FULL_TRANSITIVE") as error:
        Compatibility.parse("sideways")
    assert "sideways" in str(error.value)


STRING_OR_NULL = obj({"name": {"type": ["string", "null"]}})
STRING_ONLY = obj({"name": {"type": "string"}})


def test_none_mode_accepts_anything() -> None:
    assert check(Compatibility.NONE, {"type": "integer"}, [(1, {"type": "string"})]) == []


def test_no_previous_version_is_always_compatible() -> None:
    assert check(Compatibility.FULL_TRANSITIVE, STRING_ONLY, []) == []


def test_backward_and_forward_differ_on_the_same_pair() -> None:
    backward = check(Compatibility.BACKWARD, STRING_ONLY, [(1, STRING_OR_NULL)])
    forward = check(Compatibility.FORWARD, STRING_ONLY, [(1, STRING_OR_NULL)])
    assert [(i.pointer, i.kind, i.direction) for i in backward] == [
        ("/properties/name/type", "TYPE_NARROWED", "backward")
    ]
    assert forward == []
    # and the other way round
    assert check(Compatibility.BACKWARD, STRING_OR_NULL, [(1, STRING_ONLY)]) == []
    assert check(Compatibility.FORWARD, STRING_OR_NULL, [(1, STRING_ONLY)]) != []


def test_full_checks_both_directions() -> None:
    assert check(Compatibility.FULL, STRING_ONLY, [(1, STRING_OR_NULL)])[0].direction == "backward"
    assert check(Compatibility.FULL, STRING_OR_NULL, [(1, STRING_ONLY)])[0].direction == "forward"
    changed = obj({"name": {"type": "integer"}})
    both = check(Compatibility.FULL, changed, [(1, STRING_ONLY)])
    assert {i.direction for i in both} == {"backward", "forward"}


def test_transitive_checks_every_version_and_names_each_offender() -> None:
    v1 = obj({"name": {"type": ["string", "null"]}})
    v2 = obj({"name": {"type": "string"}, "age": {"type": ["integer", "null"]}})
    v3 = obj({"name": {"type": "string"}, "age": {"type": ["integer", "null"]}})
    new = obj({"name": {"type": "string"}, "age": {"type": "integer"}})
    problems = check(Compatibility.BACKWARD_TRANSITIVE, new, [(1, v1), (2, v2), (3, v3)])
    assert {(i.pointer, i.against_version) for i in problems} == {
        ("/properties/age", 1),  # v1 had an open content model and no "age"
        ("/properties/age/type", 2),
        ("/properties/age/type", 3),
        ("/properties/name/type", 1),
    }


def test_non_transitive_checks_only_the_latest_version() -> None:
    v1 = obj({"name": {"type": ["string", "null"]}})
    v2 = obj({"name": {"type": "string"}})
    assert check(Compatibility.BACKWARD, STRING_ONLY, [(1, v1), (2, v2)]) == []
    latest_only = check(Compatibility.BACKWARD, STRING_ONLY, [(2, v2), (1, v1)])
    assert [i.against_version for i in latest_only] == [1]


def test_forward_pointers_point_into_the_new_schema() -> None:
    old = {"$defs": {"Money": obj({"amount": {"type": "integer"}})}, "$ref": "#/$defs/Money"}
    new = {
        "$defs": {"Amounts": {"Money": obj({"amount": {"type": "number"}})}},
        "$ref": "#/$defs/Amounts/Money",
    }
    problems = check(Compatibility.FORWARD, new, [(7, old)])
    assert [(i.pointer, i.kind, i.direction, i.against_version) for i in problems] == [
        ("/$defs/Amounts/Money/properties/amount/type", "TYPE_NARROWED", "forward", 7)
    ]


def test_forward_reports_property_added_to_closed_previous_reader_at_new_property() -> None:
    old = obj({"a": {"type": "string"}}, additionalProperties=False)
    new = obj({"a": {"type": "string"}, "b": {"type": "integer"}}, additionalProperties=False)
    problems = check(Compatibility.FORWARD, new, [(1, old)])
    assert [(i.pointer, i.kind) for i in problems] == [
        ("/properties/b", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
    ]


def test_every_incompatibility_is_reported_not_just_the_first() -> None:
    writer = obj({"a": {"type": "string"}, "b": {"type": "number"}, "c": {"enum": [1, 2]}})
    reader = obj(
        {"a": {"type": "string", "maxLength": 3}, "b": {"type": "integer"}, "c": {"enum": [1]}},
        required=["a"],
    )
    assert found(reader, writer) == {
        ("/properties/a/maxLength", "MAX_LENGTH_ADDED"),
        ("/properties/b/type", "TYPE_NARROWED"),
        ("/properties/c/enum", "ENUM_ARRAY_NARROWED"),
        ("/required", "REQUIRED_ATTRIBUTE_ADDED"),
    }


def test_results_are_sorted_by_pointer_then_kind_and_deduplicated() -> None:
    writer = obj({"z": {"type": "number"}, "a": {"type": ["string", "null"]}})
    reader = obj({"z": {"type": "integer"}, "a": {"type": "string", "minLength": 1}})
    problems = check(Compatibility.FULL_TRANSITIVE, reader, [(1, writer), (2, writer)])
    keys = [(i.pointer, i.kind, i.direction, i.against_version) for i in problems]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3] or 0))
    assert len(keys) == len(set(keys))
    assert check(Compatibility.FULL_TRANSITIVE, reader, [(1, writer), (2, writer)]) == problems


def test_reasons_start_with_a_readable_location() -> None:
    def line(sku: Schema) -> dict[str, Any]:
        return obj({"order": obj({"lines": {"type": "array", "items": obj({"sku": sku})}})})

    [nested] = reader_incompatibilities(line(STRING), line({"type": ["string", "null"]}))
    assert nested.reason.startswith("property 'order.lines[].sku': type narrowed")
    tuple_old = {"type": "array", "prefixItems": [STRING, {"type": "number"}]}
    tuple_new = {"type": "array", "prefixItems": [STRING, INTEGER]}
    [item] = reader_incompatibilities(tuple_new, tuple_old)
    assert item.reason.startswith("item '[1]': ")
    [root] = reader_incompatibilities(obj({}, required=["a"]), obj({}))
    assert root.reason.startswith("root schema: 'a' is now required")


def test_reason_names_the_field_and_the_change() -> None:
    writer = obj({"total": {"type": ["number", "null"]}})
    reader = obj({"total": {"type": "number"}})
    [problem] = reader_incompatibilities(reader, writer)
    assert problem == Incompatibility(
        pointer="/properties/total/type",
        kind="TYPE_NARROWED",
        reason=problem.reason,
        direction="backward",
        against_version=None,
    )
    assert "property 'total'" in problem.reason
    assert "['number', 'null']" in problem.reason and "null" in problem.reason.split(";")[1]


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("writer", "reader", "kind"),
    [
        ({"type": ["string", "null"]}, {"type": "string"}, "TYPE_NARROWED"),
        ({"type": "number"}, {"type": "integer"}, "TYPE_NARROWED"),
        ({"type": "string"}, {"type": "integer"}, "TYPE_CHANGED"),
        ({}, {"type": "string"}, "TYPE_NARROWED"),
        ({"type": "integer"}, {"type": "number"}, None),
        ({"type": "string"}, {"type": ["string", "null"]}, None),
        ({"type": "integer"}, {"type": ["number", "null"]}, None),
        ({"enum": ["a", "b"]}, {"type": "string"}, None),
        ({"const": 3}, {"type": "integer"}, None),
    ],
)
def test_type_narrowing_is_incompatible_and_widening_is_not(
    writer: Schema, reader: Schema, kind: str | None
) -> None:
    assert kinds(reader, writer) == ({kind} if kind else set())


def test_narrowing_type_is_backward_incompatible_with_pointer() -> None:
    old = obj({"order": obj({"total": {"type": ["number", "null"]}})})
    new = obj({"order": obj({"total": {"type": "number"}})})
    [problem] = check(Compatibility.BACKWARD, new, [(3, old)])
    assert problem.pointer == "/properties/order/properties/total/type"
    assert problem.kind == "TYPE_NARROWED"
    assert problem.against_version == 3
    assert "order.total" in problem.reason


# --------------------------------------------------------------------------- enums and const


@pytest.mark.parametrize(
    ("writer", "reader", "kind"),
    [
        ({"enum": ["a", "b"]}, {"enum": ["a"]}, "ENUM_ARRAY_NARROWED"),
        ({"enum": ["a", "b"]}, {"enum": ["a", "c"]}, "ENUM_ARRAY_CHANGED"),
        ({"type": "string"}, {"type": "string", "enum": ["a"]}, "ENUM_ARRAY_NARROWED"),
        ({"const": "a"}, {"const": "b"}, "ENUM_ARRAY_CHANGED"),
        ({"enum": [1, True]}, {"enum": [1]}, "ENUM_ARRAY_NARROWED"),
        ({"enum": ["a"]}, {"enum": ["a", "b"]}, None),
        ({"enum": ["a", "b"]}, {"type": "string"}, None),
        ({"const": "a"}, {"enum": ["a", "b"]}, None),
        ({"enum": [1.0]}, {"const": 1}, None),
        ({"type": "boolean"}, {"enum": [True, False]}, None),
    ],
)
def test_enum_and_const_rules(writer: Schema, reader: Schema, kind: str | None) -> None:
    assert kinds(reader, writer) == ({kind} if kind else set())


def test_enum_narrowing_points_at_the_reader_enum() -> None:
    writer = obj({"status": {"enum": ["new", "paid", "void"]}})
    reader = obj({"status": {"enum": ["new", "paid"]}})
    [problem] = reader_incompatibilities(reader, writer)
    assert problem.pointer == "/properties/status/enum"
    assert "void" in problem.reason


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    ("writer", "reader", "kind"),
    [
        ({"type": "number", "minimum": 0}, {"type": "number", "minimum": 5}, "MINIMUM_INCREASED"),
        ({"type": "number"}, {"type": "number", "minimum": 0}, "MINIMUM_ADDED"),
        ({"type": "number", "minimum": 5}, {"type": "number", "minimum": 0}, None),
        ({"type": "number", "minimum": 5}, {"type": "number"}, None),
        ({"type": "number", "maximum": 10}, {"type": "number", "maximum": 5}, "MAXIMUM_DECREASED"),
        ({"type": "number", "maximum": 5}, {"type": "number", "maximum": 10}, None),
        (
            {"type": "number", "minimum": 0},
            {"type": "number", "exclusiveMinimum": 0},
            "EXCLUSIVE_MINIMUM_INCREASED",
        ),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0}, None),
        (
            {"type": "number", "exclusiveMaximum": 10},
            {"type": "number", "exclusiveMaximum": 9},
            "EXCLUSIVE_MAXIMUM_DECREASED",
        ),
        ({"type": "number", "maximum": 9}, {"type": "number", "exclusiveMaximum": 10}, None),
        ({"type": "string"}, {"type": "string", "maxLength": 5}, "MAX_LENGTH_ADDED"),
        (
            {"type": "string", "maxLength": 9},
            {"type": "string", "maxLength": 5},
            "MAX_LENGTH_DECREASED",
        ),
        ({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 9}, None),
        (
            {"type": "string", "minLength": 1},
            {"type": "string", "minLength": 2},
            "MIN_LENGTH_INCREASED",
        ),
        ({"type": "string", "minLength": 2}, {"type": "string"}, None),
        ({"type": "array"}, {"type": "array", "minItems": 1}, "MIN_ITEMS_ADDED"),
        ({"type": "array", "maxItems": 3}, {"type": "array", "maxItems": 2}, "MAX_ITEMS_DECREASED"),
        ({"type": "array", "maxItems": 2}, {"type": "array", "maxItems": 3}, None),
        ({"type": "object"}, {"type": "object", "minProperties": 1}, "MIN_PROPERTIES_ADDED"),
        (
            {"type": "object", "maxProperties": 4},
            {"type": "object", "maxProperties": 3},
            "MAX_PROPERTIES_DECREASED",
        ),
        ({"type": "object", "minProperties": 2}, {"type": "object", "minProperties": 1}, None),
        ({"type": "number"}, {"type": "number", "multipleOf": 2}, "MULTIPLE_OF_ADDED"),
        (
            {"type": "number", "multipleOf": 2},
            {"type": "number", "multipleOf": 4},
            "MULTIPLE_OF_EXPANDED",
        ),
        (
            {"type": "number", "multipleOf": 3},
            {"type": "number", "multipleOf": 2},
            "MULTIPLE_OF_CHANGED",
        ),
        ({"type": "number", "multipleOf": 4}, {"type": "number", "multipleOf": 2}, None),
        ({"type": "number", "multipleOf": 0.1}, {"type": "number", "multipleOf": 0.01}, None),
        ({"type": "integer"}, {"type": "integer", "multipleOf": 1}, None),
        ({"type": "string"}, {"type": "string", "pattern": "^a"}, "PATTERN_ADDED"),
        (
            {"type": "string", "pattern": "^a"},
            {"type": "string", "pattern": "^b"},
            "PATTERN_CHANGED",
        ),
        ({"type": "string", "pattern": "^a"}, {"type": "string"}, None),
        ({"type": "string"}, {"type": "string", "format": "email"}, "FORMAT_ADDED"),
        (
            {"type": "string", "format": "date"},
            {"type": "string", "format": "uuid"},
            "FORMAT_CHANGED",
        ),
        ({"type": "string", "format": "date"}, {"type": "string"}, None),
    ],
)
def test_bounds_stricter_in_reader_are_incompatible_looser_are_not(
    writer: Schema, reader: Schema, kind: str | None
) -> None:
    assert kinds(reader, writer) == ({kind} if kind else set())


def test_string_bounds_do_not_apply_to_values_that_are_not_strings() -> None:
    writer = {"type": "integer"}
    reader = {"type": ["integer", "string"], "maxLength": 3, "pattern": "^x"}
    assert compatible(reader, writer)


def test_undecidable_pattern_change_says_it_cannot_prove_compatibility() -> None:
    [problem] = reader_incompatibilities(
        {"type": "string", "pattern": "^[a-z]+$"}, {"type": "string", "pattern": "^[a-c]+$"}
    )
    assert "cannot prove" in problem.reason


# --------------------------------------------------------------------------- objects


def test_adding_optional_property_to_closed_content_model_is_backward_compatible() -> None:
    old = obj({"a": {"type": "string"}}, additionalProperties=False)
    new = obj({"a": {"type": "string"}, "b": {"type": "integer"}}, additionalProperties=False)
    assert check(Compatibility.BACKWARD, new, [(1, old)]) == []


def test_adding_constrained_property_to_open_content_model_is_backward_incompatible() -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}, "b": {"type": "integer"}})
    assert found(new, old) == {("/properties/b", "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")}


@pytest.mark.parametrize("schema", [True, {}, {"description": "anything at all"}])
def test_adding_unconstrained_property_to_open_content_model_is_compatible(schema: Schema) -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}, "b": schema})
    assert compatible(new, old)


def test_removing_property_from_open_reader_is_backward_compatible() -> None:
    assert compatible(obj({}), obj({"a": {"type": "string"}}))


def test_removing_property_from_closed_reader_is_backward_incompatible() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "integer"}})
    new = obj({"a": {"type": "string"}}, additionalProperties=False)
    assert ("/properties/b", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL") in found(new, old)


def test_removing_a_false_property_from_closed_reader_is_compatible() -> None:
    old = obj({"a": {"type": "string"}, "b": False}, additionalProperties=False)
    new = obj({"a": {"type": "string"}}, additionalProperties=False)
    assert compatible(new, old)


def test_closing_an_open_content_model_is_backward_incompatible() -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}}, additionalProperties=False)
    assert found(new, old) == {("/additionalProperties", "ADDITIONAL_PROPERTIES_REMOVED")}


def test_opening_a_closed_content_model_is_backward_compatible() -> None:
    old = obj({"a": {"type": "string"}}, additionalProperties=False)
    assert compatible(obj({"a": {"type": "string"}}), old)
    assert compatible(obj({"a": {"type": "string"}}, additionalProperties=True), old)


def test_constraining_additional_properties_of_open_model_is_incompatible() -> None:
    old = obj({})
    new = obj({}, additionalProperties={"type": "string"})
    assert found(new, old) == {("/additionalProperties", "ADDITIONAL_PROPERTIES_NARROWED")}
    narrower = obj({}, additionalProperties={"type": "string", "maxLength": 2})
    assert found(narrower, new) == {("/additionalProperties/maxLength", "MAX_LENGTH_ADDED")}


def test_property_removed_into_partially_open_reader_must_be_covered() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "integer"}}, additionalProperties=False)
    covered = obj({"a": {"type": "string"}}, additionalProperties={"type": "integer"})
    uncovered = obj({"a": {"type": "string"}}, additionalProperties={"type": "string"})
    assert compatible(covered, old)
    assert found(uncovered, old) == {
        ("/additionalProperties/type", "TYPE_CHANGED"),
        ("/properties/b", "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
    }


def test_property_added_to_partially_open_writer_must_be_covered() -> None:
    old = obj({}, additionalProperties={"type": "string"})
    covered = obj({"b": {"type": "string"}}, additionalProperties={"type": "string"})
    uncovered = obj(
        {"b": {"type": "string", "maxLength": 4}}, additionalProperties={"type": "string"}
    )
    assert compatible(covered, old)
    assert found(uncovered, old) == {
        ("/properties/b", "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"),
        ("/properties/b/maxLength", "MAX_LENGTH_ADDED"),
    }


def test_changed_property_schema_is_compared_recursively() -> None:
    old = obj({"line": obj({"sku": {"type": "string", "maxLength": 20}})})
    new = obj({"line": obj({"sku": {"type": "string", "maxLength": 10}})})
    assert found(new, old) == {
        ("/properties/line/properties/sku/maxLength", "MAX_LENGTH_DECREASED")
    }


def test_making_a_property_required_is_backward_incompatible() -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}}, required=["a"])
    assert found(new, old) == {("/required", "REQUIRED_ATTRIBUTE_ADDED")}


def test_dropping_a_required_property_is_backward_compatible() -> None:
    old = obj({"a": {"type": "string"}}, required=["a"])
    assert compatible(obj({"a": {"type": "string"}}), old)


def test_new_required_property_in_unopen_content_model_is_incompatible_even_with_default() -> None:
    old = obj({"a": {"type": "string"}}, additionalProperties=False)
    new = obj(
        {"a": {"type": "string"}, "b": {"type": "string", "default": "x"}},
        required=["b"],
        additionalProperties=False,
    )
    assert found(new, old) == {("/required", "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")}
    assert not valid(new, {"a": "written before"})


def test_new_required_property_in_open_content_model_is_incompatible() -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}, "b": {}}, required=["b"])
    assert found(new, old) == {("/required", "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")}


# --------------------------------------------------------------------------- arrays


def test_items_are_compared_recursively() -> None:
    old = {"type": "array", "items": {"type": ["string", "null"]}}
    new = {"type": "array", "items": {"type": "string"}}
    assert found(new, old) == {("/items/type", "TYPE_NARROWED")}
    assert compatible(old, new)


def test_prefix_items_are_compared_by_position() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}
    new = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert found(new, old) == {("/prefixItems/1/type", "TYPE_NARROWED")}


def test_prefix_item_added_to_open_array_is_incompatible_but_to_closed_array_is_not() -> None:
    open_old = {"type": "array", "prefixItems": [{"type": "string"}]}
    closed_old = {**open_old, "items": False}
    new = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert found(new, open_old) == {("/prefixItems/1", "ITEM_ADDED_TO_OPEN_CONTENT_MODEL")}
    assert compatible(new, closed_old)


def test_prefix_item_removed_from_closed_reader_is_incompatible() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    new = {"type": "array", "prefixItems": [{"type": "string"}], "items": False}
    assert ("/prefixItems/1", "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL") in found(new, old)
    assert compatible({"type": "array", "prefixItems": [{"type": "string"}]}, old)


def test_closing_an_array_to_further_items_is_incompatible() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}]}
    new = {"type": "array", "prefixItems": [{"type": "string"}], "items": False}
    assert found(new, old) == {("/items", "ADDITIONAL_ITEMS_REMOVED")}
    assert compatible(old, new)


def test_draft7_array_form_items_and_additional_items_are_understood() -> None:
    old = {"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}
    new = {"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "integer"}}
    assert found(new, old) == {("/additionalItems/type", "TYPE_NARROWED")}


def test_unique_items_added_in_reader_is_incompatible_and_removed_is_not() -> None:
    plain, unique = {"type": "array"}, {"type": "array", "uniqueItems": True}
    assert found(unique, plain) == {("/uniqueItems", "UNIQUE_ITEMS_ADDED")}
    assert compatible(plain, unique)


def test_contains_added_in_reader_is_incompatible() -> None:
    plain = {"type": "array"}
    contains = {"type": "array", "contains": {"type": "string"}}
    assert found(contains, plain) == {("/contains", "CONTAINS_ADDED")}
    assert compatible(plain, contains)
    more = {**contains, "minContains": 2}
    assert found(more, contains) == {("/minContains", "MIN_CONTAINS_INCREASED")}


# --------------------------------------------------------------------------- oneOf / anyOf / allOf

STRING, INTEGER, NULL = {"type": "string"}, {"type": "integer"}, {"type": "null"}


def test_adding_a_branch_to_one_of_in_reader_is_compatible() -> None:
    assert compatible({"oneOf": [STRING, INTEGER, NULL]}, {"oneOf": [STRING, INTEGER]})


def test_removing_a_branch_from_one_of_in_reader_is_incompatible() -> None:
    assert found({"oneOf": [STRING, INTEGER]}, {"oneOf": [STRING, INTEGER, NULL]}) == {
        ("/oneOf", "SUM_TYPE_NARROWED")
    }


def test_reordered_branches_are_matched_by_best_compatible_branch() -> None:
    assert compatible({"anyOf": [INTEGER, STRING]}, {"anyOf": [STRING, INTEGER]})


def test_changed_branch_is_reported_with_the_nested_change() -> None:
    old = {"oneOf": [STRING, {"type": "string", "maxLength": 9, "pattern": "^x"}]}
    new = {"oneOf": [INTEGER, {"type": "string", "maxLength": 5, "pattern": "^x"}]}
    assert found(new, old) == {
        ("/oneOf", "COMBINED_TYPE_SUBSCHEMAS_CHANGED"),
        ("/oneOf/0/type", "TYPE_CHANGED"),
        ("/oneOf/1/maxLength", "MAX_LENGTH_DECREASED"),
    }


def test_forward_reports_changed_and_added_branches_in_the_new_schema() -> None:
    closed = {"additionalProperties": False}
    old = {"oneOf": [obj({"a": STRING}, **closed), NULL]}
    new = {"oneOf": [obj({"a": STRING, "b": INTEGER}, **closed), NULL, STRING]}
    problems = check(Compatibility.FORWARD, new, [(1, old)])
    assert [(i.pointer, i.kind) for i in problems] == [
        ("/oneOf/0", "COMBINED_TYPE_SUBSCHEMAS_CHANGED"),
        ("/oneOf/0/properties/b", "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"),
        ("/oneOf/2", "SUM_TYPE_NARROWED"),
    ]
    assert check(Compatibility.BACKWARD, new, [(1, old)]) == []


def test_single_schema_turned_into_one_of_containing_it_is_compatible() -> None:
    assert compatible({"oneOf": [STRING, NULL]}, STRING)
    assert compatible({"anyOf": [INTEGER, {"type": "number", "minimum": 5}]}, {"type": "integer"})


def test_one_of_turned_into_one_of_its_branches_is_incompatible() -> None:
    assert found(STRING, {"oneOf": [STRING, NULL]}) == {("/type", "TYPE_CHANGED")}


def test_single_branch_combinators_are_the_same_as_their_branch() -> None:
    for key in ("oneOf", "anyOf", "allOf"):
        assert compatible({key: [STRING]}, STRING)
        assert compatible(STRING, {key: [STRING]})
        assert found({key: [{"type": "string", "maxLength": 2}]}, STRING) == {
            (f"/{key}/0/maxLength", "MAX_LENGTH_ADDED")
        }


def test_one_of_needs_branches_that_exclude_each_other_for_writer_data() -> None:
    number = {"type": "number"}
    assert found({"oneOf": [INTEGER, number]}, INTEGER) == {("/oneOf", "COMBINED_TYPE_CHANGED")}
    assert found({"oneOf": [STRING, number]}, {"anyOf": [STRING, number]}) == set()
    assert found({"oneOf": [INTEGER, number]}, {"anyOf": [INTEGER, number]}) == {
        ("/oneOf", "COMBINED_TYPE_CHANGED")
    }
    assert compatible({"anyOf": [INTEGER, number]}, {"oneOf": [INTEGER, number]})
    # the writer's own oneOf already kept its values out of two branches at once
    assert compatible({"oneOf": [INTEGER, number, NULL]}, {"oneOf": [INTEGER, number]})


def test_one_of_branches_told_apart_by_a_required_discriminator_are_exclusive() -> None:
    card = obj({"kind": {"const": "card"}, "number": STRING}, required=["kind"])
    bank = obj({"kind": {"const": "bank"}, "iban": STRING}, required=["kind"])
    assert compatible({"oneOf": [card, bank]}, card)
    loose = obj({"kind": {"type": "string"}}, required=["kind"])
    assert kinds({"oneOf": [card, loose]}, card) == {"COMBINED_TYPE_CHANGED"}


def test_adding_an_all_of_conjunct_in_reader_is_incompatible_and_removing_one_is_not() -> None:
    base, extra = obj({"a": STRING}), {"required": ["a"]}
    assert found({"allOf": [base, extra]}, {"allOf": [base]}) == {
        ("/allOf/1/required", "REQUIRED_ATTRIBUTE_ADDED")
    }
    assert found({"allOf": [base, extra, {"minProperties": 1}]}, {"allOf": [base, extra]}) == {
        ("/allOf/2", "PRODUCT_TYPE_EXTENDED")
    }
    assert compatible({"allOf": [base]}, {"allOf": [base, extra]})


def test_writer_all_of_parts_are_combined_before_comparing() -> None:
    base = obj({"a": STRING})
    composed = {"allOf": [base, {"required": ["a"]}]}
    assert compatible(obj({"a": STRING}, required=["a"]), composed)
    assert kinds(obj({"a": STRING}, required=["a", "b"]), composed) == {"COMBINED_TYPE_CHANGED"}


def test_empty_one_of_in_reader_rejects_everything() -> None:
    assert kinds({"oneOf": []}, STRING) == {"COMBINED_TYPE_SUBSCHEMAS_CHANGED"}
    assert compatible(STRING, {"oneOf": []})


def test_one_of_beside_other_keywords_is_compared_too() -> None:
    old = {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
    assert compatible(old, old)
    assert compatible({"type": "object"}, old)
    assert "COMBINED_TYPE_SUBSCHEMAS_CHANGED" in kinds(old, {"type": "object"})


# --------------------------------------------------------------------------- $ref


def test_local_refs_are_resolved_and_compared_where_they_point() -> None:
    old = {"$defs": {"Id": {"type": "string"}}, **obj({"id": {"$ref": "#/$defs/Id"}})}
    new = {
        "$defs": {"Id": {"type": "string", "maxLength": 8}},
        **obj({"id": {"$ref": "#/$defs/Id"}}),
    }
    assert found(new, old) == {("/$defs/Id/maxLength", "MAX_LENGTH_ADDED")}


def test_refs_with_escaped_pointers_and_definitions_are_resolved() -> None:
    old = {
        "definitions": {"a/b": {"type": "integer"}, "c~d": {"type": "string"}},
        **obj({"x": {"$ref": "#/definitions/a~1b"}, "y": {"$ref": "#/definitions/c~0d"}}),
    }
    new = {
        "definitions": {"a/b": {"type": "integer"}, "c~d": {"type": "string", "format": "uuid"}},
        **obj({"x": {"$ref": "#/definitions/a~1b"}, "y": {"$ref": "#/definitions/c%7E0d"}}),
    }
    assert found(new, old) == {("/definitions/c~0d/format", "FORMAT_ADDED")}


def test_ref_and_inline_schema_are_interchangeable() -> None:
    inline = obj({"id": {"type": "string"}})
    by_ref = {"$defs": {"Id": {"type": "string"}}, **obj({"id": {"$ref": "#/$defs/Id"}})}
    assert compatible(inline, by_ref)
    assert compatible(by_ref, inline)


def _linked_list(value_type: str) -> dict[str, Any]:
    node = obj({"value": {"type": value_type}, "next": {"anyOf": [{"$ref": "#/$defs/Node"}, NULL]}})
    return {"$defs": {"Node": node}, "$ref": "#/$defs/Node"}


def test_recursive_schemas_terminate_and_find_changes_inside_the_cycle() -> None:
    assert compatible(_linked_list("integer"), _linked_list("integer"))
    assert compatible(_linked_list("number"), _linked_list("integer"))
    assert found(_linked_list("integer"), _linked_list("number")) == {
        ("/$defs/Node/properties/value/type", "TYPE_NARROWED")
    }


def test_mutually_recursive_schemas_terminate() -> None:
    def doc(leaf: str) -> dict[str, Any]:
        return {
            "$defs": {
                "A": obj({"b": {"$ref": "#/$defs/B"}, "leaf": {"type": leaf}}),
                "B": obj({"a": {"$ref": "#/$defs/A"}}),
            },
            "$ref": "#/$defs/A",
        }

    assert compatible(doc("string"), doc("string"))
    assert found(doc("integer"), doc("string")) == {
        ("/$defs/A/properties/leaf/type", "TYPE_CHANGED")
    }


def test_ref_beside_other_keywords_applies_both() -> None:
    defs = {"$defs": {"Code": {"type": "string"}}}
    narrowed = {**defs, "$ref": "#/$defs/Code", "maxLength": 3}
    assert found(narrowed, {**defs, "$ref": "#/$defs/Code"}) == {("/maxLength", "MAX_LENGTH_ADDED")}
    assert compatible({"type": "string", "maxLength": 5}, narrowed)
    assert found({**defs, "$ref": "#/$defs/Code", "minLength": 1}, INTEGER) == {
        ("/$defs/Code/type", "TYPE_CHANGED")
    }


def test_identical_external_refs_are_taken_as_the_same_schema() -> None:
    money = {"$ref": "https://example.com/money.json"}
    assert compatible(money, money)
    assert kinds({"$ref": "https://example.com/other.json"}, money) == {"UNRESOLVED_REFERENCE"}


def test_unresolvable_ref_cannot_be_proven_compatible() -> None:
    problems = reader_incompatibilities({"$ref": "#/$defs/Missing"}, STRING)
    assert [(i.pointer, i.kind) for i in problems] == [("/$ref", "UNRESOLVED_REFERENCE")]
    assert "cannot prove" in problems[0].reason


# --------------------------------------------------------------------------- booleans, not, ...


def test_boolean_schemas() -> None:
    assert compatible(True, obj({"a": STRING}))
    assert compatible(obj({"a": STRING}), False)
    assert compatible(False, False)
    assert found(False, STRING) == {("", "TYPE_CHANGED")}
    assert found(STRING, True) == {("/type", "TYPE_NARROWED")}
    assert compatible({}, True) and compatible(True, {})


@pytest.mark.parametrize(
    ("writer", "reader", "ok"),
    [
        ({"not": NULL}, {"not": NULL}, True),
        ({"type": "string"}, {"type": "string", "not": {"const": "x"}}, False),
        ({"not": NULL}, {"not": {"type": ["null", "string"]}}, False),
        ({"not": {"type": ["null", "string"]}}, {"not": NULL}, True),
        ({"not": NULL}, {}, True),
    ],
)
def test_not_rules(writer: Schema, reader: Schema, ok: bool) -> None:
    assert compatible(reader, writer) is ok
    if not ok:
        assert kinds(reader, writer) == {"NOT_TYPE_EXTENDED"}


@pytest.mark.parametrize(
    ("writer", "reader", "kind"),
    [
        ({}, {"dependentRequired": {"a": ["b"]}}, "DEPENDENCY_ARRAY_ADDED"),
        (
            {"dependentRequired": {"a": ["b"]}},
            {"dependentRequired": {"a": ["b", "c"]}},
            "DEPENDENCY_ARRAY_EXTENDED",
        ),
        ({"dependentRequired": {"a": ["b", "c"]}}, {"dependentRequired": {"a": ["b"]}}, None),
        ({"required": ["b"]}, {"required": ["b"], "dependentRequired": {"a": ["b"]}}, None),
        ({}, {"dependentSchemas": {"a": {"required": ["b"]}}}, "DEPENDENCY_SCHEMA_ADDED"),
        ({"dependentSchemas": {"a": {"required": ["b"]}}}, {}, None),
        (
            {"dependentSchemas": {"a": obj({"b": {"type": ["string", "null"]}})}},
            {"dependentSchemas": {"a": obj({"b": {"type": "string"}})}},
            "TYPE_NARROWED",
        ),
    ],
)
def test_dependencies_added_or_stricter_in_reader_are_incompatible(
    writer: dict[str, Any], reader: dict[str, Any], kind: str | None
) -> None:
    writer, reader = {"type": "object", **writer}, {"type": "object", **reader}
    assert kinds(reader, writer) == ({kind} if kind else set())


def test_property_names_rules() -> None:
    plain = {"type": "object"}
    short = {"type": "object", "propertyNames": {"maxLength": 8}}
    shorter = {"type": "object", "propertyNames": {"maxLength": 4}}
    assert found(short, plain) == {("/propertyNames/maxLength", "MAX_LENGTH_ADDED")}
    assert found(shorter, short) == {("/propertyNames/maxLength", "MAX_LENGTH_DECREASED")}
    assert compatible(plain, short) and compatible(short, shorter)


def test_pattern_properties_rules() -> None:
    plain = {"type": "object"}
    tagged = {"type": "object", "patternProperties": {"^x-": STRING}}
    stricter = {"type": "object", "patternProperties": {"^x-": {"type": "string", "maxLength": 3}}}
    closed = {**tagged, "additionalProperties": False}
    assert found(tagged, plain) == {("/patternProperties/^x-", "PATTERN_PROPERTIES_NARROWED")}
    assert found(stricter, tagged) == {("/patternProperties/^x-/maxLength", "MAX_LENGTH_ADDED")}
    assert compatible(plain, tagged) and compatible(tagged, tagged) and compatible(closed, closed)
    assert "ADDITIONAL_PROPERTIES_REMOVED" in kinds(closed, tagged)
    declared = obj({"x-id": {"type": "integer"}})
    assert "TYPE_CHANGED" in kinds(
        {**declared, **tagged, "properties": declared["properties"]}, declared
    )


@pytest.mark.parametrize(
    ("keyword", "value", "kind"),
    [
        ("unevaluatedProperties", False, "UNEVALUATED_PROPERTIES_NARROWED"),
        ("unevaluatedItems", False, "UNEVALUATED_ITEMS_NARROWED"),
    ],
)
def test_keywords_that_cannot_be_analysed_are_conservative(
    keyword: str, value: Any, kind: str
) -> None:
    writer = {"type": ["object", "array"]}
    reader = {**writer, keyword: value}
    [problem] = reader_incompatibilities(reader, writer)
    assert (problem.pointer, problem.kind) == (f"/{keyword}", kind)
    assert "cannot prove" in problem.reason
    assert compatible(reader, reader)


def test_annotation_changes_are_compatible() -> None:
    old = obj({"a": {"type": "string", "title": "A", "description": "old", "default": "x"}})
    new = obj(
        {"a": {"type": "string", "title": "B", "description": "new", "examples": ["y"]}},
        **{"$comment": "changed", "title": "Order", "deprecated": True},
    )
    assert compatible(new, old) and compatible(old, new)


SAMPLES: list[Schema] = [
    True,
    False,
    STRING_OR_NULL,
    _linked_list("integer"),
    {"oneOf": [STRING, INTEGER, obj({"a": STRING}, required=["a"])]},
    {"allOf": [obj({"a": STRING}), {"required": ["a"]}], "not": NULL},
    {"type": "array", "prefixItems": [STRING], "items": False, "uniqueItems": True},
    {"type": "object", "patternProperties": {"^x-": STRING}, "additionalProperties": False},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 10, "multipleOf": 0.5},
    {"type": "string", "pattern": "^[a-z]+$", "format": "email", "minLength": 3},
    {"if": {"required": ["a"]}, "then": {"required": ["b"]}, "dependentRequired": {"c": ["d"]}},
]


@pytest.mark.parametrize("schema", SAMPLES)
def test_every_schema_is_compatible_with_itself(schema: Schema) -> None:
    assert check(Compatibility.FULL, schema, [(1, schema)]) == []


# --------------------------------------------------------------------------- against a validator

# (writer, reader, instances valid under the writer); the checker must call each pair compatible,
# and then the reader must accept every instance.
COMPATIBLE_PAIRS: list[tuple[Schema, Schema, list[Any]]] = [
    (
        obj({"id": {"type": "integer"}}, required=["id"]),
        obj({"id": {"type": "number"}, "note": {}}),
        [{"id": 1}, {"id": 2, "note": [1]}, {"id": 3, "extra": "x"}],
    ),
    (
        obj({"a": STRING}, additionalProperties=False),
        obj({"a": {"type": ["string", "null"]}, "b": INTEGER}, additionalProperties=False),
        [{}, {"a": "x"}],
    ),
    ({"type": "string"}, {"oneOf": [STRING, NULL]}, ["", "abc"]),
    ({"enum": ["a", "b"]}, {"type": "string", "enum": ["a", "b", "c"]}, ["a", "b"]),
    (
        {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
        {"type": "number", "minimum": 0, "exclusiveMaximum": 11},
        [0.001, 5, 10],
    ),
    ({"type": "integer", "multipleOf": 4}, {"type": "number", "multipleOf": 2}, [0, 4, -8]),
    (
        {"type": "array", "prefixItems": [STRING, INTEGER], "items": False},
        {"type": "array", "prefixItems": [STRING, {"type": "number"}, STRING]},
        [[], ["a"], ["a", 1]],
    ),
    (
        {"type": "array", "items": STRING, "uniqueItems": True, "maxItems": 3},
        {"type": "array", "items": {"type": ["string", "integer"]}, "maxItems": 5},
        [[], ["a", "b", "c"]],
    ),
    (
        _linked_list("integer"),
        _linked_list("number"),
        [{"value": 1, "next": {"value": 2, "next": None}}],
    ),
    (
        {"anyOf": [STRING, INTEGER]},
        {"anyOf": [INTEGER, STRING, NULL]},
        ["x", 1],
    ),
    (
        obj({"a": STRING, "b": INTEGER}, additionalProperties=False),
        obj({"a": STRING}, additionalProperties={"type": "integer"}),
        [{"a": "x", "b": 2}, {"b": 3}],
    ),
    (
        {"type": "string", "format": "email", "minLength": 5},
        {"type": "string", "minLength": 1},
        ["a@b.c", "someone@example.org"],
    ),
    (
        {"type": "object", "dependentRequired": {"a": ["b", "c"]}},
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        [{}, {"a": 1, "b": 2, "c": 3}],
    ),
    ({"not": {"type": ["null", "string"]}}, {"not": NULL}, [1, [], {}]),
]


@pytest.mark.parametrize(("writer", "reader", "instances"), COMPATIBLE_PAIRS)
def test_reader_accepts_writer_data_whenever_checker_says_compatible(
    writer: Schema, reader: Schema, instances: list[Any]
) -> None:
    assert reader_incompatibilities(reader, writer) == []
    for instance in instances:
        assert valid(writer, instance), instance
        assert valid(reader, instance), instance


# (writer, reader, a witness valid under the writer that the reader rejects): each reported
# incompatibility is real.
INCOMPATIBLE_PAIRS: list[tuple[Schema, Schema, Any]] = [
    (STRING_OR_NULL, STRING_ONLY, {"name": None}),
    (obj({"a": STRING}), obj({"a": STRING, "b": INTEGER}), {"b": "text"}),
    (obj({"a": STRING, "b": INTEGER}), obj({"a": STRING}, additionalProperties=False), {"b": 1}),
    (obj({"a": STRING}), obj({"a": STRING}, required=["a"]), {}),
    ({"type": "number"}, {"type": "integer"}, 1.5),
    ({"enum": ["a", "b"]}, {"enum": ["a"]}, "b"),
    ({"type": "string", "maxLength": 9}, {"type": "string", "maxLength": 5}, "abcdefg"),
    ({"oneOf": [STRING, NULL]}, {"oneOf": [STRING]}, None),
    (
        {"anyOf": [STRING, {"type": "string", "minLength": 2}]},
        {"oneOf": [STRING, {"type": "string", "minLength": 2}]},
        "ab",
    ),
    ({"type": "array"}, {"type": "array", "uniqueItems": True}, [1, 1]),
    (
        _linked_list("number"),
        _linked_list("integer"),
        {"value": 1, "next": {"value": 0.5, "next": None}},
    ),
    (
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        {"type": "object", "dependentRequired": {"a": ["b", "c"]}},
        {"a": 1, "b": 2},
    ),
]


@pytest.mark.parametrize(("writer", "reader", "witness"), INCOMPATIBLE_PAIRS)
def test_reported_incompatibilities_have_a_witness_the_reader_rejects(
    writer: Schema, reader: Schema, witness: Any
) -> None:
    assert reader_incompatibilities(reader, writer) != []
    assert valid(writer, witness)
    assert not valid(reader, witness)
