"""Object rules: required, properties and the content model, dependencies, propertyNames.

A property either side declares is compared against every subschema the other side applies
to it (``properties``, matching ``patternProperties``, else ``additionalProperties``); the
finding is named after how the content model changed, as in Confluent
(``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``, ``PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from artery.contracts.compatibility.bounds import limit_findings
from artery.contracts.compatibility.model import (
    ADDED,
    ADDED_TO_OPEN,
    ANY_VALUE,
    REMOVED,
    REMOVED_FROM_CLOSED,
    Finding,
    Obj,
    Pair,
    Schema,
)
from artery.contracts.compatibility.pointers import child
from artery.contracts.compatibility.schema import (
    accepts_all,
    keyword_map,
    keyword_names,
    members,
)

if TYPE_CHECKING:
    from artery.contracts.compatibility.diff import Diff

_Slot: TypeAlias = tuple[Schema, str, str]  # (schema, pointer, where it comes from)

_STRING: Mapping[str, Any] = {"type": "string"}
_REJECTED = " with values it rejects"


def object_findings(d: Diff, p: Pair) -> list[Finding]:
    found = _required(p)
    for name in sorted(set(keyword_map(p.r, "properties")) | set(keyword_map(p.w, "properties"))):
        found += _property(d, p, name)
    found += _pattern_properties(d, p) + _additional(d, p) + _dependencies(d, p)
    if "propertyNames" in p.r:
        names = p.w.get("propertyNames", _STRING)
        at, wat = child(p.rp, "propertyNames"), child(p.wp, "propertyNames")
        found += d.inner(p.r["propertyNames"], at, names, wat)
    return found + limit_findings(p, "minProperties", "maxProperties")


def _required(p: Pair) -> list[Finding]:
    found = []
    for name in sorted(keyword_names(p.r, "required") - keyword_names(p.w, "required")):
        if name in keyword_map(p.w, "properties"):
            kind = "REQUIRED_ATTRIBUTE_ADDED"
        elif _is_open(p.w):
            kind = "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        else:
            kind = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
        detail = f"{name!r} is now required; the writer may omit it"
        found.append(p.finding(kind, detail, "required"))
    return found


def _property(d: Diff, p: Pair, name: str) -> list[Finding]:
    """A property either side declares, against every subschema the other applies to it."""
    wslots = _slots(p.w, p.wp, name, reader=False)
    wslots = wslots or [(True, child(p.wp, "properties", name), "open")]
    declared = name in keyword_map(p.r, "properties")
    found: list[Finding] = []
    for rs, rsp, rorigin in _slots(p.r, p.rp, name, reader=True):
        results = [d.inner(rs, rsp, ws, wsp) for ws, wsp, _ in wslots]
        if any(not res for res in results):
            continue
        worigin, nested = wslots[0][2], results[0]
        if declared and rorigin == "properties" and worigin == "open":
            kind, detail = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ADDED_TO_OPEN
            nested = []
        elif declared and rorigin == "properties" and worigin != "properties":
            kind, detail = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", ADDED
        elif not declared and rs is False:
            kind, detail = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", REMOVED_FROM_CLOSED
            nested = []
        elif not declared:
            kind, detail = (
                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                REMOVED,
            )
        else:
            found += nested
            continue
        found += [p.finding(kind, detail, "properties", name), *nested]
    return found


def _pattern_properties(d: Diff, p: Pair) -> list[Finding]:
    """Reader patterns against the writer's values for undeclared property names."""
    wpp = keyword_map(p.w, "patternProperties")
    rest = (p.w.get("additionalProperties", True), child(p.wp, "additionalProperties"))
    found: list[Finding] = []
    for pattern, rs in keyword_map(p.r, "patternProperties").items():
        at, wat = (
            child(p.rp, "patternProperties", pattern),
            child(p.wp, "patternProperties", pattern),
        )
        if pattern in wpp:
            found += d.inner(rs, at, wpp[pattern], wat)
            continue
        sources = [*members(p.w, p.wp, "patternProperties"), rest]
        if any(d.inner(rs, at, s, sp) for s, sp in sources):
            detail = f"patternProperties {pattern!r} added; the writer may send matching names"
            found.append(Finding(at, wat, "PATTERN_PROPERTIES_NARROWED", detail + _REJECTED))
    return found


def _additional(d: Diff, p: Pair) -> list[Finding]:
    """The reader's additionalProperties against what the writer may send undeclared."""
    if "additionalProperties" not in p.r:
        return []
    rest, at = p.r["additionalProperties"], child(p.rp, "additionalProperties")
    rpp = keyword_map(p.r, "patternProperties")
    sources = [
        (s, child(p.wp, "patternProperties", q))
        for q, s in keyword_map(p.w, "patternProperties").items()
        if q not in rpp
    ]
    wrest = (p.w.get("additionalProperties", True), child(p.wp, "additionalProperties"))
    found: list[Finding] = []
    for ws, wsp in [*sources, wrest]:
        nested = d.inner(rest, at, ws, wsp)
        if not nested:
            continue
        if rest is False:
            detail = "additionalProperties closed; the writer may send undeclared properties"
            return [*found, Finding(at, wsp, "ADDITIONAL_PROPERTIES_REMOVED", detail)]
        if "additionalProperties" not in p.w and wsp == wrest[1]:
            detail = "additionalProperties constrained; the writer's open content model"
            found.append(Finding(at, wsp, "ADDITIONAL_PROPERTIES_NARROWED", detail + ANY_VALUE))
        else:
            found += nested
    return found


def _dependencies(d: Diff, p: Pair) -> list[Finding]:
    found = []
    wdeps, always = keyword_map(p.w, "dependentRequired"), keyword_names(p.w, "required")
    rdeps = keyword_map(p.r, "dependentRequired")
    for name in rdeps:
        extra = sorted(keyword_names(rdeps, name) - keyword_names(wdeps, name) - always)
        if extra:
            kind = "DEPENDENCY_ARRAY_EXTENDED" if name in wdeps else "DEPENDENCY_ARRAY_ADDED"
            detail = f"when {name!r} is present the reader now also requires {extra}"
            found.append(p.finding(kind, detail, "dependentRequired", name))
    wschemas = keyword_map(p.w, "dependentSchemas")
    for name, rs in keyword_map(p.r, "dependentSchemas").items():
        at, wat = child(p.rp, "dependentSchemas", name), child(p.wp, "dependentSchemas", name)
        if name in wschemas:
            found += d.compare(rs, at, wschemas[name], wat)
        elif not accepts_all(rs):
            detail = f"dependentSchemas for {name!r} added; cannot prove the writer satisfies it"
            found.append(Finding(at, wat, "DEPENDENCY_SCHEMA_ADDED", detail))
    return found


def _slots(s: Obj, ptr: str, name: str, reader: bool) -> list[_Slot]:
    """The subschemas `s` applies to property `name` (properties, patterns, additional)."""
    slots: list[_Slot] = []
    props = keyword_map(s, "properties")
    if name in props:
        slots.append((props[name], child(ptr, "properties", name), "properties"))
    matched = False
    for pattern, sub in keyword_map(s, "patternProperties").items():
        hit = _matches(pattern, name)  # None: a regex Python cannot evaluate
        if hit or (hit is None and reader):  # a reader is assumed to apply it
            slots.append((sub, child(ptr, "patternProperties", pattern), "patternProperties"))
        elif hit is None:  # nothing is assumed about what such a writer sends
            slots.append((True, child(ptr, "properties", name), "open"))
        matched = matched or bool(hit) or (hit is None and not reader)
    if name not in props and not matched and "additionalProperties" in s:
        rest = s["additionalProperties"]
        slots.append((rest, child(ptr, "additionalProperties"), "additionalProperties"))
    return slots


def _is_open(schema: Obj) -> bool:
    rest = schema.get("additionalProperties", True)
    return not schema.get("patternProperties") and accepts_all(rest)


def _matches(pattern: str, name: str) -> bool | None:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return None
