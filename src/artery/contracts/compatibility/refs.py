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
REF_KEYS = ("$ref", "$dynamicRef")
_MAX_HOPS = 64


@dataclass
class Recursion:
    """Bookkeeping shared by a comparison and its role-swapped mirror."""

    active: dict[tuple[bool, str, str], int] = field(default_factory=dict)  # pair -> level
    level: int = 0  # how deep inside the instance the comparison currently is
    hits: int = 0  # times a pair was met again while being compared
    merging: int = 0  # inside a comparison against merged writer allOf parts


def resolve(doc: Schema, ref: Any) -> tuple[Schema, str] | None:
    """Target and canonical pointer of a local reference ("#", "#/$defs/a~1b", "#anchor").

    A document with embedded resources (``$id`` below the root) resolves references
    relative to each resource; none are followed there (None), so they are never
    mis-resolved against the root.
    """
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    index = _index(doc)
    if index.embedded:
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return index.anchors.get(fragment)
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


def ref_target(doc: Schema, schema: Mapping[str, Any]) -> tuple[Schema, str] | None:
    """Where the schema's ``$ref`` (or ``$dynamicRef``) lands, if it has one we can follow.

    With a single resource, a ``$dynamicRef`` lands where a ``$ref`` would: the dynamic
    scope holds no other resource whose ``$dynamicAnchor`` could take over.
    """
    for keyword in REF_KEYS:
        if keyword in schema:
            return resolve(doc, schema[keyword])
    return None


@dataclass(frozen=True)
class _Index:
    anchors: dict[str, tuple[Schema, str]]
    embedded: bool  # a subschema below the root declares its own ``$id``


_INDEXES: dict[int, tuple[Schema, _Index]] = {}
_VALUES = frozenset({"enum", "const", "examples", "default"})


def _index(doc: Schema) -> _Index:
    """Anchors of `doc`, computed once per document (a few documents are kept)."""
    cached = _INDEXES.get(id(doc))
    if cached is not None and cached[0] is doc:
        return cached[1]
    anchors: dict[str, tuple[Schema, str]] = {}
    embedded = False
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, ptr = stack.pop()
        if isinstance(node, list):
            stack.extend((v, child(ptr, i)) for i, v in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        embedded = embedded or (ptr != "" and isinstance(node.get("$id"), str))
        for key in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(key), str):
                anchors.setdefault(node[key], (node, ptr))
        stack.extend((v, child(ptr, k)) for k, v in node.items() if k not in _VALUES)
    if len(_INDEXES) > 16:
        _INDEXES.clear()
    index = _INDEXES[id(doc)] = (doc, _Index(anchors, embedded))
    return index[1]


def settle(schema: Schema, ptr: str, doc: Schema) -> tuple[Schema, str]:
    """Follow bare ``$ref``s and unwrap single-branch combinators; ``true`` becomes {}."""
    for _ in range(_MAX_HOPS):
        if schema is True:
            return _EMPTY, ptr
        if not isinstance(schema, Mapping):
            return schema, ptr
        combinator, keys = pure_combinator(schema), assertion_keys(schema)
        if len(keys) == 1 and keys <= set(REF_KEYS) and (target := ref_target(doc, schema)):
            schema, ptr = target
        elif combinator is not None and len(schema[combinator]) == 1:
            schema, ptr = schema[combinator][0], child(ptr, combinator, 0)
        else:
            return schema, ptr
    return schema, ptr


def reader_ref_findings(d: Diff, p: Pair) -> list[Finding]:
    """A reader ``$ref`` beside other keywords: its target must accept the writer too."""
    found: list[Finding] = []
    for keyword in REF_KEYS:
        if keyword not in p.r:
            continue
        ref = p.r[keyword]
        if (target := resolve(d.reader_doc, ref)) is not None:
            found += d.compare(target[0], target[1], p.w, p.wp)
        elif not (isinstance(ref, str) and not ref.startswith("#") and p.w.get(keyword) == ref):
            detail = f"cannot prove compatibility through unresolvable {keyword} {ref!r}"
            found.append(p.finding("UNRESOLVED_REFERENCE", detail, keyword))
    return found  # the same external schema on both sides is taken as the same
