"""``type``, ``enum`` and ``const``: which JSON types and values each side allows.

Integers are numbers: a reader ``number`` accepts a writer ``integer``, and a float with no
fractional part is an integer value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artery.contracts.compatibility.model import Finding, Pair
from artery.contracts.compatibility.pointers import child
from artery.contracts.compatibility.schema import brief, canon

ANY_TYPE = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_FINITE = (("null", None), ("boolean", True), ("boolean", False))


def value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def declared_types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset([declared])
    return frozenset(declared) & ANY_TYPE if isinstance(declared, list) else ANY_TYPE


def type_accepts(types: frozenset[str], name: str) -> bool:
    return name in types or (name == "integer" and "number" in types)


def allowed_values(schema: Mapping[str, Any]) -> list[Any] | None:
    """The finite set of values allowed by ``const``/``enum``, or None if unbounded."""
    if "const" in schema:
        allowed = {canon(v) for v in schema.get("enum", [schema["const"]])}
        return [schema["const"]] if canon(schema["const"]) in allowed else []
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def writer_types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared, values = declared_types(schema), allowed_values(schema)
    if values is None:
        return declared
    return frozenset(t for t in map(value_type, values) if type_accepts(declared, t))


def _shown_types(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if declared is None:
        return "any type"
    return repr([declared] if isinstance(declared, str) else list(declared))


def type_findings(p: Pair, wtypes: frozenset[str]) -> list[Finding]:
    rtypes = declared_types(p.r)
    lost = sorted(t for t in wtypes if not type_accepts(rtypes, t))
    if not lost:
        return []
    overlap = len(lost) < len(wtypes) or ("number" in wtypes and "integer" in rtypes)
    kind = "TYPE_NARROWED" if overlap else "TYPE_CHANGED"
    lost_text = "other" if wtypes == ANY_TYPE else ", ".join(lost)
    detail = (
        f"type narrowed from {_shown_types(p.w)} to {_shown_types(p.r)}; "
        f"the reader rejects {lost_text} values the writer allows"
    )
    return [p.finding(kind, detail, "type")]


def enum_findings(p: Pair, rtypes: frozenset[str], wtypes: frozenset[str]) -> list[Finding]:
    allowed = allowed_values(p.r)
    if allowed is None:
        return []
    keyword = "const" if "const" in p.r else "enum"
    at, wat = child(p.rp, keyword), child(p.wp, "const" if "const" in p.w else "enum")
    written = allowed_values(p.w)
    if written is None and wtypes <= {"null", "boolean"}:
        written = [v for t, v in _FINITE if t in wtypes]
    if written is None:
        detail = f"{keyword} {brief(p.r[keyword])} added; the writer allowed any value"
        return [Finding(at, wat, "ENUM_ARRAY_NARROWED", detail)]
    keys = {canon(v) for v in allowed}
    missing = [v for v in written if canon(v) not in keys and type_accepts(rtypes, value_type(v))]
    if not missing:
        return []
    kind = "ENUM_ARRAY_NARROWED" if keys <= {canon(v) for v in written} else "ENUM_ARRAY_CHANGED"
    detail = f"{keyword} no longer allows {brief(missing)}, which the writer may send"
    return [Finding(at, wat, kind, detail)]
