"""Reading schema documents: which keywords assert, JSON values compared canonically."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from artery.contracts.compatibility.model import Obj, Schema
from artery.contracts.compatibility.pointers import child

SUMS = ("anyOf", "oneOf")
_COMBINATORS = ("allOf", *SUMS)
_ASSERTIONS = frozenset(
    """type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength
    minLength pattern format items prefixItems additionalItems contains maxContains minContains
    maxItems minItems uniqueItems maxProperties minProperties required properties
    patternProperties additionalProperties dependentRequired dependentSchemas dependencies
    propertyNames unevaluatedItems unevaluatedProperties allOf anyOf oneOf not if then else
    $ref $dynamicRef $recursiveRef""".split()  # noqa: SIM905
)


def assertion_keys(schema: Mapping[str, Any]) -> set[str]:
    return {key for key in schema if key in _ASSERTIONS}


def accepts_all(schema: Schema) -> bool:
    return schema is True or (isinstance(schema, Mapping) and not assertion_keys(schema))


def pure_combinator(schema: Schema) -> str | None:
    """The combinator keyword if it is the schema's only assertion, else None."""
    if not isinstance(schema, Mapping):
        return None
    keys = assertion_keys(schema)
    key = next(iter(keys)) if len(keys) == 1 else None
    return key if key in _COMBINATORS and isinstance(schema[key], list) else None


def canon(value: Any) -> str:
    """Canonical JSON text; 1 and 1.0 are the same JSON number, true and 1 are not."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, Mapping):
            return {k: norm(x) for k, x in v.items()}
        return v

    return json.dumps(norm(value), sort_keys=True)


_ANNOTATIONS = frozenset(
    "title description $comment examples default deprecated readOnly writeOnly".split()  # noqa: SIM905
)
_SCHEMA_MAPS = frozenset(
    "properties patternProperties $defs definitions dependentSchemas".split()  # noqa: SIM905
)
_SCHEMA_LISTS = frozenset(("prefixItems", "items", *_COMBINATORS))
_SCHEMA_ONE = frozenset(
    """not if then else items additionalProperties contains propertyNames unevaluatedItems
    unevaluatedProperties additionalItems""".split()  # noqa: SIM905
)


def meaning(schema: Schema) -> str:
    """Canonical text of what a schema asserts: annotations (title, description, ``x-*``...)
    dropped wherever a subschema sits, every other value kept as written."""

    def strip(node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _ANNOTATIONS or key.startswith("x-"):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, Mapping):
                value = {name: strip(sub) for name, sub in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                value = [strip(sub) for sub in value]
            elif key in _SCHEMA_ONE:
                value = strip(value)
            out[key] = value
        return out

    return canon(strip(schema))


def refers(text: str) -> bool:
    """Does canonical schema text hold a reference (whose target may differ per document)?"""
    return any(f'"{key}"' in text for key in ("$ref", "$dynamicRef", "$recursiveRef"))


def number(value: Any) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def brief(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def members(schema: Obj, ptr: str, key: str) -> list[tuple[Schema, str]]:
    """Subschemas of an array keyword (allOf, ...) or a map keyword (patternProperties)."""
    value = schema.get(key)
    if isinstance(value, Mapping):
        return [(sub, child(ptr, key, name)) for name, sub in value.items()]
    return [(sub, child(ptr, key, i)) for i, sub in enumerate(value or [])]


def position_first(items: list[tuple[Schema, str]], i: int) -> list[tuple[Schema, str]]:
    return items[i : i + 1] + items[:i] + items[i + 1 :]


def keyword_map(schema: Obj, key: str) -> Obj:
    """A keyword whose value is an object (properties, ...); {} when absent or malformed."""
    value = schema.get(key)
    return value if isinstance(value, Mapping) else {}


def keyword_names(schema: Obj, key: str) -> set[str]:
    """A keyword whose value is a list of names (required, ...); empty when malformed."""
    value = schema.get(key)
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()
