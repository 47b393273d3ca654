"""Validating instances against contract versions with jsonschema-rs (compiled once each).

Violations carry a JSON pointer into the instance and the failing keyword. Validator
messages quote the offending value, and values classified ``pii`` or ``secret`` must never
reach an error message or a log: a violation whose value is, is inside, or contains such a
value (``maxProperties``, ``oneOf``, ``not``, ``uniqueItems``... on a parent quote the whole
object) has its message replaced by one naming only the keyword.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema_rs
import orjson

from artery.contracts.classification import (
    classified_paths,
    escape,
    holds_sensitive,
    is_sensitive_pointer,
    sensitive_paths,
)
from artery.errors import InvalidSchema, Violation

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# JSON nesting (objects and arrays) a schema may have: about 120 nested properties. The
# validator refuses much deeper documents, and every walk over a schema stays within the
# interpreter's stack below this depth.
MAX_NESTING = 250
# Errors whose messages quote property names only, never the value: kept on an object that
# holds classified fields, since the name is what a person needs to fix the data.
_NAMES_ONLY = frozenset({"required", "additionalProperties", "unevaluatedProperties"})


def check_schema(schema: Any) -> None:
    """Refuse anything that is not a self-contained JSON Schema 2020-12 document."""
    if not isinstance(schema, dict | bool):
        raise InvalidSchema(
            f"a schema must be a JSON object or boolean, not {type(schema).__name__}",
            fix="write a JSON Schema 2020-12 object such as {'type': 'object'}",
        )
    depth = nesting(schema)
    if depth > MAX_NESTING:
        raise InvalidSchema(
            f"the schema nests {depth} levels deep; at most {MAX_NESTING} are supported",
            fix="move nested parts under $defs and refer to them with $ref",
        )
    if isinstance(schema, dict) and schema.get("$schema", DIALECT) not in (DIALECT, DIALECT + "#"):
        raise InvalidSchema(
            f"unsupported $schema {schema['$schema']!r}",
            fix=f"contracts are JSON Schema 2020-12: set $schema to {DIALECT!r} or omit it",
        )
    for pointer, ref in _refs(schema, ""):
        if not ref.startswith("#"):
            raise InvalidSchema(
                f"$ref {ref!r} at {pointer or '/'} points outside the document",
                fix="inline the referenced schema under $defs and use '#/$defs/...'",
            )
    try:
        classified_paths(schema)
    except ValueError as exc:
        raise InvalidSchema(
            f"bad x-artery-classification: {exc}",
            fix="use one of public, internal, pii, secret",
        ) from None
    try:
        jsonschema_rs.meta.validate(schema)
        jsonschema_rs.Draft202012Validator(schema)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        where = "/" + "/".join(str(p) for p in getattr(exc, "instance_path", []))
        message = getattr(exc, "message", str(exc)).splitlines()[0]
        raise InvalidSchema(
            f"invalid JSON Schema at {where}: {message}",
            fix="correct the schema document (see json-schema.org/draft/2020-12)",
        ) from None


class CompiledSchema:
    """A schema compiled once, plus the pointers whose values must not be quoted."""

    __slots__ = ("_sensitive", "_validator", "schema")

    def __init__(self, schema: Any) -> None:
        check_schema(schema)
        self.schema = schema
        self._validator = jsonschema_rs.Draft202012Validator(schema)
        self._sensitive = tuple(sensitive_paths(schema))

    def is_valid(self, instance: Any) -> bool:
        return not self.violations(instance)

    def violations(self, instance: Any, *, encoded: bool = False) -> list[Violation]:
        """Every violation (empty when valid); fast path when the instance is valid.

        Only JSON reaches the validator: a value nested deeper than the event codec can
        store would crash it, and a non-JSON value (a set, an int key) would raise.
        ``encoded=True`` says the caller already encoded it (the log does, to store it).
        """
        if not encoded:
            try:
                orjson.dumps(instance)  # the codec's own check, in C: depth and types
            except TypeError as exc:
                return [Violation(pointer="", keyword="type", message=_not_json(exc))]
        if self._validator.is_valid(instance):
            return []
        return [self._violation(error) for error in self._validator.iter_errors(instance)]

    def _violation(self, error: Any) -> Violation:
        pointer = "".join("/" + escape(str(part)) for part in error.instance_path)
        keyword = str(error.schema_path[-1]) if error.schema_path else ""
        message = str(error.message)
        if is_sensitive_pointer(pointer, self._sensitive):
            message = f"value does not satisfy '{keyword}' (value hidden: classified field)"
        elif holds_sensitive(pointer, self._sensitive) and error.kind.name not in _NAMES_ONLY:
            message = (
                f"value does not satisfy '{keyword}' (value hidden: it contains classified fields)"
            )
        return Violation(pointer=pointer, keyword=keyword, message=message)


def _not_json(exc: TypeError) -> str:
    if "Recursion limit" in str(exc):
        return "the data nests deeper than 254 levels, more than an event can hold"
    return f"the data is not JSON ({exc}); send objects, arrays, strings, numbers, booleans"


def nesting(value: Any) -> int:
    """How deeply objects and arrays nest in a JSON value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _refs(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield pointer, ref
        for key, value in node.items():
            if key not in ("enum", "const", "examples", "default"):
                yield from _refs(value, f"{pointer}/{escape(str(key))}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, f"{pointer}/{index}")
