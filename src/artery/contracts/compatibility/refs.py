"""Local ``$ref`` resolution and the bookkeeping that guards recursive schemas.

Targets are compared where they live, addressed by canonical pointers, so a recursive
schema meets the same (reader pointer, writer pointer) pair again; `Recursion` records the
pairs being compared and how deep inside the instance the walk is (see `Diff.compare`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from artery.contracts.compatibility.model import Finding, Pair, Schema
from artery.contracts.compatibility.pointers import child, unescape
from artery.contracts.compatibility.schema import assertion_keys, pure_combinator

if TYPE_CHECKING:
    from artery.contracts.compatibility.diff import Diff

_EMPTY: Mapping[str, Any] = {}
_MAX_HOPS = 64


@dataclass
class Recursion:
    """Bookkeeping shared by a comparison and its role-swapped mirror."""

    active: dict[tuple[bool, str, str], int] = field(default_factory=dict)  # pair -> level
    level: int = 0  # how deep inside the instance the comparison currently is
    hits: int = 0  # times a pair was met again while being compared
    merging: int = 0  # inside a comparison against merged writer allOf parts


def resolve(doc: Schema, ref: Any) -> tuple[Schema, str] | None:
    """Target and canonical pointer of a local ``$ref`` ("#", "#/$defs/a~1b", ...)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None  # plain-name anchors are not resolved
    node: Any = doc
    segments = [unescape(s) for s in fragment.split("/")[1:]]
    for seg in segments:
        if isinstance(node, Mapping) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return None
    return (node, child("", *segments)) if isinstance(node, (bool, Mapping)) else None


def settle(schema: Schema, ptr: str, doc: Schema) -> tuple[Schema, str]:
    """Follow bare ``$ref``s and unwrap single-branch combinators; ``true`` becomes {}."""
    for _ in range(_MAX_HOPS):
        if schema is True:
            return _EMPTY, ptr
        if not isinstance(schema, Mapping):
            return schema, ptr
        combinator = pure_combinator(schema)
        if assertion_keys(schema) == {"$ref"} and (target := resolve(doc, schema["$ref"])):
            schema, ptr = target
        elif combinator is not None and len(schema[combinator]) == 1:
            schema, ptr = schema[combinator][0], child(ptr, combinator, 0)
        else:
            return schema, ptr
    return schema, ptr


def reader_ref_findings(d: Diff, p: Pair) -> list[Finding]:
    """A reader ``$ref`` beside other keywords: its target must accept the writer too."""
    ref = p.r["$ref"]
    if (target := resolve(d.reader_doc, ref)) is not None:
        return d.compare(target[0], target[1], p.w, p.wp)
    if isinstance(ref, str) and not ref.startswith("#") and p.w.get("$ref") == ref:
        return []  # the same external schema on both sides
    detail = f"cannot prove compatibility through unresolvable $ref {ref!r}"
    return [p.finding("UNRESOLVED_REFERENCE", detail, "$ref")]
