"""Classification finds classified values wherever a schema can place them, and neither
violations nor redacted copies ever show one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from artery.cli import app
from artery.contracts import (
    Classification,
    CompiledSchema,
    Registry,
    classified_paths,
    classify,
    sensitive_paths,
)
from artery.errors import ContractViolation
from artery.govern.redaction import redact as redact_with_replaced
from artery.store import SqlStore


def redact(value: Any, paths: dict[str, Classification]) -> Any:
    """The value as every place that shows a payload shows it (govern.redaction)."""
    return redact_with_replaced(value, paths)[0]


EMAIL = "alice@example.com"
CARD = "4111111111111111"
PII = {"type": "string", "x-artery-classification": "pii"}
SECRET = {"type": "string", "x-artery-classification": "secret"}

# (schema, an instance holding EMAIL at a classified location, the classified paths)
SHAPES: list[tuple[str, dict[str, Any], Any, dict[str, Classification]]] = [
    (
        "patternProperties",
        {"type": "object", "patternProperties": {"^email": PII}},
        {"email_home": EMAIL},
        {"/*": Classification.PII},
    ),
    (
        "$anchor",
        {"$defs": {"e": {"$anchor": "email", **PII}}, "properties": {"to": {"$ref": "#email"}}},
        {"to": EMAIL},
        {"/to": Classification.PII},
    ),
    (
        "dependentSchemas",
        {"dependentSchemas": {"card": {"properties": {"holder": PII}}}},
        {"card": "x", "holder": EMAIL},
        {"/holder": Classification.PII},
    ),
    (
        "if/then/else",
        {
            "if": {"properties": {"kind": {"const": "person"}}},
            "then": {"properties": {"email": PII}},
            "else": {"properties": {"vat": SECRET}},
        },
        {"kind": "person", "email": EMAIL},
        {"/email": Classification.PII, "/vat": Classification.SECRET},
    ),
    ("contains", {"type": "array", "contains": PII}, [1, EMAIL], {"/*": Classification.PII}),
    (
        "unevaluatedProperties",
        {"type": "object", "unevaluatedProperties": PII},
        {"contact": EMAIL},
        {"/*": Classification.PII},
    ),
    (
        "unevaluatedItems",
        {"type": "array", "prefixItems": [{"type": "integer"}], "unevaluatedItems": PII},
        [1, EMAIL],
        {"/*": Classification.PII},
    ),
    (
        "$dynamicRef",
        {
            "$defs": {"v": {"$dynamicAnchor": "v", **PII}},
            "properties": {"x": {"$dynamicRef": "#v"}},
        },
        {"x": EMAIL},
        {"/x": Classification.PII},
    ),
    (
        "property named a/b",
        {"type": "object", "properties": {"a/b": PII, "c~d": SECRET}},
        {"a/b": EMAIL, "c~d": CARD},
        {"/a~1b": Classification.PII, "/c~0d": Classification.SECRET},
    ),
]


@pytest.mark.parametrize(
    ("schema", "instance", "paths"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_classified_fields_are_found_under_every_applying_keyword(
    schema: dict[str, Any], instance: Any, paths: dict[str, Classification]
) -> None:
    assert classified_paths(schema) == paths
    assert CompiledSchema(schema).is_valid(instance)  # the instance really is one of its values
    shown = json.dumps(redact(instance, sensitive_paths(schema)))
    assert EMAIL not in shown and CARD not in shown


def test_violation_pointer_of_a_property_named_with_a_slash_is_a_classified_path() -> None:
    schema = {"type": "object", "properties": {"a/b": {**PII, "maxLength": 3}}}
    [violation] = CompiledSchema(schema).violations({"a/b": EMAIL})
    assert violation.pointer in sensitive_paths(schema)
    assert EMAIL not in violation.message


def test_recursive_schema_classifies_its_fields_at_any_depth() -> None:
    schema = {
        "type": "object",
        "properties": {"email": PII, "next": {"$ref": "#"}, "note": {"type": "string"}},
    }
    found = {item.pointer: item for item in classify(schema)}
    assert found["/next/email"].label == Classification.PII
    recursive = found["/next/next"]  # the cycle, unfolded once: the rest of the chain
    assert recursive.label == Classification.PII
    assert recursive.assumed and "recursive" in recursive.assumed
    deep = {"email": "a@x", "next": {"email": "b@x", "next": {"email": EMAIL}}}
    assert EMAIL not in json.dumps(redact(deep, sensitive_paths(schema)))


def test_classified_property_names_classify_the_whole_object() -> None:
    schema = {"type": "object", "propertyNames": {"x-artery-classification": "pii"}}
    [item] = classify(schema)
    assert (item.pointer, item.label) == ("", Classification.PII)
    assert item.assumed == "its property names are classified"
    assert redact({EMAIL: 1}, sensitive_paths(schema)) == "[redacted]"


# ----------------------------------------------------------------- violations never quote them

CUSTOMER = {
    "type": "object",
    "properties": {"card": SECRET, "email": PII, "tags": {"type": "array"}},
}
# (keyword, schema, instance): each violation is reported on a parent of the classified values
PARENT_VIOLATIONS: list[tuple[str, dict[str, Any], Any]] = [
    ("maxProperties", {**CUSTOMER, "maxProperties": 1}, {"card": CARD, "email": EMAIL}),
    ("oneOf", {"oneOf": [CUSTOMER, {**CUSTOMER, "required": ["card"]}]}, {"card": CARD}),
    ("anyOf", {"anyOf": [{**CUSTOMER, "required": ["zip"]}]}, {"card": CARD}),
    ("not", {**CUSTOMER, "not": {"required": ["card"]}}, {"card": CARD}),
    (
        "uniqueItems",
        {"type": "array", "items": {**PII}, "uniqueItems": True},
        [EMAIL, EMAIL],
    ),
    ("enum", {**CUSTOMER, "enum": [{}]}, {"email": EMAIL}),
    ("type", {"type": "array", "items": CUSTOMER}, {"card": CARD}),
]


@pytest.mark.parametrize(
    ("schema", "instance"),
    [v[1:] for v in PARENT_VIOLATIONS],
    ids=[v[0] for v in PARENT_VIOLATIONS],
)
def test_violation_on_a_value_containing_classified_fields_does_not_quote_it(
    schema: dict[str, Any], instance: Any
) -> None:
    violations = CompiledSchema(schema).violations(instance)
    assert violations
    for violation in violations:
        assert EMAIL not in violation.message and CARD not in violation.message, violation
        assert "value hidden" in violation.message


def test_violation_on_an_array_item_holding_classified_fields_does_not_quote_it() -> None:
    schema = {
        "type": "object",
        "properties": {
            "cards": {
                "type": "array",
                "items": {
                    "type": "object",
                    "maxProperties": 1,
                    "properties": {
                        "number": {"type": "string", "x-artery-classification": "pii"},
                        "x": {},
                    },
                },
            }
        },
    }
    [violation] = CompiledSchema(schema).violations({"cards": [{"number": CARD, "x": 1}]})
    assert violation.pointer == "/cards/0" and CARD not in violation.message


def test_missing_required_property_is_still_named_beside_classified_fields() -> None:
    schema = {**CUSTOMER, "required": ["zip"], "additionalProperties": False}
    messages = [v.message for v in CompiledSchema(schema).violations({"card": CARD, "x": 1})]
    assert any("zip" in m for m in messages) and any("'x'" in m for m in messages)
    assert not any(CARD in m for m in messages)


def test_values_that_hold_no_classified_field_are_still_quoted() -> None:
    [violation] = CompiledSchema(CUSTOMER).violations({"tags": "oops", "card": CARD})
    assert violation.pointer == "/tags" and '"oops"' in violation.message


async def test_contract_violation_never_quotes_a_classified_value(store: SqlStore) -> None:
    registry = Registry(store)
    version = await registry.register("customers", {**CUSTOMER, "maxProperties": 1})
    with pytest.raises(ContractViolation) as info:
        registry.validate(version, {"card": CARD, "email": EMAIL})
    text = str(info.value) + "".join(v.message for v in info.value.violations)
    assert CARD not in text and EMAIL not in text


def test_contracts_show_says_which_subtrees_are_taken_as_classified(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"email": PII, "next": {"$ref": "#"}}}
    (tmp_path / "list.json").write_text(json.dumps(schema))
    store = ["--store", f"sqlite:///{tmp_path}/a.db"]
    runner = CliRunner()
    registered = runner.invoke(
        app, [*store, "contracts", "register", "list", str(tmp_path / "list.json")]
    )
    assert registered.exit_code == 0, registered.output
    shown = runner.invoke(app, [*store, "contracts", "show", "list"], env={"COLUMNS": "240"})
    lines = shown.stdout.splitlines()
    assert any(line.split()[:2] == ["/email", "pii"] for line in lines)
    assert any("/next/next" in line and "whole subtree: recursive" in line for line in lines)


def test_schema_with_too_many_paths_to_follow_is_classified_whole() -> None:
    """Each level refers twice to the one below: 2**40 locations, so none is listed."""
    defs: dict[str, Any] = {"d0": PII}
    for i in range(1, 41):
        below = {"$ref": f"#/$defs/d{i - 1}"}
        defs[f"d{i}"] = {"type": "object", "properties": {"a": below, "b": below}}
    [item] = classify({"$defs": defs, "$ref": "#/$defs/d40"})
    assert (item.pointer, item.label) == ("", Classification.SECRET)
    assert item.assumed and "too many" in item.assumed
