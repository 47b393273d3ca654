"""Compatibility of JSON Schema (draft 2020-12) contract versions.

Reader / writer model
---------------------
A producer writes data valid under the *writer* schema; a consumer validates it with
the *reader* schema. A change is compatible in one direction when every value the
writer accepts is also accepted by the reader (writer ⊆ reader).

- BACKWARD: the new schema reads data written with the previous one.
- FORWARD: the previous schema reads data written with the new one.
- FULL: both. ``*_TRANSITIVE`` checks every previous version, the others only the latest.
- NONE: nothing is checked.

The rules mirror Confluent Schema Registry's ``JsonSchemaDiff``
(``io.confluent.kafka.schemaregistry.json.diff``): there, ``original`` is the writer and
``update`` the reader, and each finding is named after a ``Difference.Type``
(``TYPE_NARROWED``, ``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``, ...). Only the incompatible
differences are reported here. The check is deliberately conservative: whatever cannot be
proven compatible (``not`` added, ``if``/``then``/``else`` or ``unevaluated*`` changed,
unresolvable ``$ref``, a ``pattern`` or ``format`` added or changed, ...) is reported with a
reason saying so. Where Confluent has no code, a code in the same style is used
(``FORMAT_ADDED``, ``PATTERN_PROPERTIES_NARROWED``, ``CONTAINS_ADDED``, ...). Unlike
Confluent, a ``default`` never makes a newly required property compatible: validation
ignores defaults, so a reader that requires a property rejects data that lacks it.

How it works
------------
Comparisons run on pairs of subschemas addressed by JSON pointers into each document; local
``$ref`` targets are compared where they live. A (reader pointer, writer pointer) pair met
again while it is still being compared is taken as compatible when the recursion went
through a nested value (a property, an item); a schema that refers to itself for the same
value cannot be proven compatible. Combinators: every writer ``oneOf``/``anyOf`` branch must be
accepted by some reader branch (same position first, then any); every reader ``allOf`` part
must accept the writer, whose own ``allOf`` parts (and their merge) may be used to show it;
a reader ``oneOf`` must also be shown to match writer data only once (branches of disjoint
types or ``const`` discriminators, or the writer's own ``oneOf``). ``not`` follows Confluent:
compatible only if the writer's ``not`` already excludes what the reader's excludes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from itertools import combinations, permutations
from typing import Any, TypeAlias
from urllib.parse import unquote

Schema: TypeAlias = bool | Mapping[str, Any]

__all__ = ["Compatibility", "Incompatibility", "Schema", "check", "reader_incompatibilities"]


class Compatibility(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, text: str) -> Compatibility:
        """``"backward"``, ``"full-transitive"``, ``"FULL_TRANSITIVE"`` ... (case-insensitive)."""
        try:
            return cls(text.strip().upper().replace("-", "_"))
        except ValueError:
            choices = ", ".join(mode.value for mode in cls)
            raise ValueError(
                f"unknown compatibility mode {text!r}; expected one of {choices}"
            ) from None


@dataclass(frozen=True)
class Incompatibility:
    pointer: str
    kind: str
    reason: str
    direction: str
    against_version: int | None = None


def reader_incompatibilities(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Everything that makes `reader` reject data valid under `writer` (direction "backward")."""
    found = _Diff(reader, writer).compare(reader, "", writer, "")
    return _finish(_present(f, f.reader_ptr, "backward", None) for f in found)


def check(
    mode: Compatibility, new: Schema, previous: Sequence[tuple[int, Schema]]
) -> list[Incompatibility]:
    """Every incompatibility of `new` against the versions `mode` asks for (oldest first).

    An empty list means compatible. Pointers always point into `new`.
    """
    mode = Compatibility.parse(mode)  # also accepts a plain "backward" string
    if mode is Compatibility.NONE or not previous:
        return []
    transitive = mode.value.endswith("_TRANSITIVE")
    backward = mode.value.startswith(("BACKWARD", "FULL"))
    forward = mode.value.startswith(("FORWARD", "FULL"))
    out: list[Incompatibility] = []
    for version, old in previous if transitive else previous[-1:]:
        if backward:
            found = _Diff(new, old).compare(new, "", old, "")
            out += (_present(f, f.reader_ptr, "backward", version) for f in found)
        if forward:
            found = _Diff(old, new).compare(old, "", new, "")
            out += (_present(f, f.writer_ptr, "forward", version) for f in found)
    return _finish(out)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class _Finding:
    reader_ptr: str
    writer_ptr: str
    kind: str
    detail: str


def _present(f: _Finding, pointer: str, direction: str, version: int | None) -> Incompatibility:
    return Incompatibility(pointer, f.kind, f"{_label(pointer)}: {f.detail}", direction, version)


def _finish(items: Iterable[Incompatibility]) -> list[Incompatibility]:
    """Sort by pointer then kind, keeping one entry per (pointer, kind, direction, version)."""
    ordered = sorted(
        items,
        key=lambda i: (i.pointer, i.kind, i.direction, i.against_version or 0, i.reason),
    )
    seen: set[tuple[str, str, str, int | None]] = set()
    unique = []
    for item in ordered:
        key = (item.pointer, item.kind, item.direction, item.against_version)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _label(pointer: str) -> str:
    """A person's name for the location: "property 'order.lines[].sku'" or "root schema"."""
    segs = [_unescape(s) for s in pointer.split("/")[1:]]
    path, i = "", 0
    while i < len(segs):
        seg, nxt = segs[i], segs[i + 1] if i + 1 < len(segs) else None
        if seg in ("properties", "dependentSchemas") and nxt is not None:
            path, i = f"{path}.{nxt}" if path else nxt, i + 1
        elif seg in ("$defs", "definitions") and nxt is not None:
            path, i = f"{seg}/{nxt}", i + 1
        elif seg == "patternProperties" and nxt is not None:
            path, i = f"{path}.<{nxt}>" if path else f"<{nxt}>", i + 1
        elif seg in ("items", "additionalItems"):
            path += "[]"
        elif seg == "prefixItems" and nxt is not None:
            path, i = f"{path}[{nxt}]", i + 1
        i += 1
    if not path:
        return "root schema"
    return f"item '{path}'" if path.startswith("[") else f"property '{path}'"


# --------------------------------------------------------------------------- schema helpers

_ANY_TYPE = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_SUMS = ("anyOf", "oneOf")
_COMBINATORS = ("allOf", *_SUMS)
_ASSERTIONS = frozenset(
    """type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength
    minLength pattern format items prefixItems additionalItems contains maxContains minContains
    maxItems minItems uniqueItems maxProperties minProperties required properties
    patternProperties additionalProperties dependentRequired dependentSchemas dependencies
    propertyNames unevaluatedItems unevaluatedProperties allOf anyOf oneOf not if then else
    $ref $dynamicRef $recursiveRef""".split()  # noqa: SIM905
)
# Keywords compared only for equality: any change in the reader cannot be proven compatible.
_OPAQUE = {
    "if": "CONDITIONAL_SCHEMA_CHANGED",
    "then": "CONDITIONAL_SCHEMA_CHANGED",
    "else": "CONDITIONAL_SCHEMA_CHANGED",
    "unevaluatedProperties": "UNEVALUATED_PROPERTIES_NARROWED",
    "unevaluatedItems": "UNEVALUATED_ITEMS_NARROWED",
    "dependencies": "DEPENDENCY_SCHEMA_ADDED",
    "$dynamicRef": "UNRESOLVED_REFERENCE",
    "$recursiveRef": "UNRESOLVED_REFERENCE",
}
_EMPTY: Mapping[str, Any] = {}
_STRING: Mapping[str, Any] = {"type": "string"}
_MAX_HOPS = 64
_MAX_NOT_DEPTH = 4


def _child(pointer: str, *parts: str | int) -> str:
    return pointer + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _assertion_keys(schema: Mapping[str, Any]) -> set[str]:
    return {key for key in schema if key in _ASSERTIONS}


def _accepts_all(schema: Schema) -> bool:
    return schema is True or (isinstance(schema, Mapping) and not _assertion_keys(schema))


def _pure_combinator(schema: Schema) -> str | None:
    """The combinator keyword if it is the schema's only assertion, else None."""
    if not isinstance(schema, Mapping):
        return None
    keys = _assertion_keys(schema)
    key = next(iter(keys)) if len(keys) == 1 else None
    return key if key in _COMBINATORS and isinstance(schema[key], list) else None


def _resolve(doc: Schema, ref: Any) -> tuple[Schema, str] | None:
    """Target and canonical pointer of a local ``$ref`` ("#", "#/$defs/a~1b", ...)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return None  # plain-name anchors are not resolved
    node: Any = doc
    segments = [_unescape(s) for s in fragment.split("/")[1:]]
    for seg in segments:
        if isinstance(node, Mapping) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return None
    return (node, _child("", *segments)) if isinstance(node, (bool, Mapping)) else None


def _canon(value: Any) -> str:
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


def _number(value: Any) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def _fraction(value: Any) -> Fraction | None:
    if _number(value) is None or value <= 0:
        return None
    try:
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _value_type(value: Any) -> str:
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


def _declared_types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset([declared])
    return frozenset(declared) & _ANY_TYPE if isinstance(declared, list) else _ANY_TYPE


def _type_accepts(types: frozenset[str], name: str) -> bool:
    return name in types or (name == "integer" and "number" in types)


def _values(schema: Mapping[str, Any]) -> list[Any] | None:
    """The finite set of values allowed by ``const``/``enum``, or None if unbounded."""
    if "const" in schema:
        allowed = {_canon(v) for v in schema.get("enum", [schema["const"]])}
        return [schema["const"]] if _canon(schema["const"]) in allowed else []
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _writer_types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared, values = _declared_types(schema), _values(schema)
    if values is None:
        return declared
    return frozenset(t for t in map(_value_type, values) if _type_accepts(declared, t))


def _shown_types(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if declared is None:
        return "any type"
    return repr([declared] if isinstance(declared, str) else list(declared))


def _brief(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _matches(pattern: str, name: str) -> bool | None:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return None


def _array_parts(schema: Mapping[str, Any]) -> tuple[list[Any], Any, str, str]:
    """(positional schemas, schema of the rest, their keywords); draft-7 array items too."""
    items = schema.get("items")
    if isinstance(items, list):
        return items, schema.get("additionalItems"), "items", "additionalItems"
    return list(schema.get("prefixItems", [])), items, "prefixItems", "items"


def _is_open(schema: Mapping[str, Any]) -> bool:
    rest = schema.get("additionalProperties", True)
    return not schema.get("patternProperties") and _accepts_all(rest)


# --------------------------------------------------------------------------- the comparison

_Obj: TypeAlias = Mapping[str, Any]
_Slot: TypeAlias = tuple[Schema, str, str]  # (schema, pointer, where it comes from)


@dataclass(frozen=True)
class _Pair:
    """A reader subschema and a writer subschema, with their pointers."""

    r: _Obj
    rp: str
    w: _Obj
    wp: str

    def finding(self, kind: str, detail: str, *path: str | int) -> _Finding:
        return _Finding(_child(self.rp, *path), _child(self.wp, *path), kind, detail)


@dataclass
class _Recursion:
    """Bookkeeping shared by a comparison and its role-swapped mirror."""

    active: dict[tuple[bool, str, str], int] = field(default_factory=dict)  # pair -> level
    level: int = 0  # how deep inside the instance the comparison currently is
    hits: int = 0  # times a pair was met again while being compared
    merging: int = 0  # inside a comparison against merged writer allOf parts


class _Diff:
    """One reader document against one writer document."""

    def __init__(
        self, reader_doc: Schema, writer_doc: Schema, not_depth: int = 0, swapped: bool = False
    ) -> None:
        self.reader_doc, self.writer_doc, self.not_depth = reader_doc, writer_doc, not_depth
        self.swapped, self.rec = swapped, _Recursion()
        self.memo: dict[tuple[str, str], list[_Finding]] = {}
        self._mirror: _Diff | None = None

    @property
    def mirror(self) -> _Diff:
        """The same two documents with the roles swapped, sharing the recursion bookkeeping."""
        if self._mirror is None:
            mirror = _Diff(self.writer_doc, self.reader_doc, self.not_depth, not self.swapped)
            mirror.rec, mirror._mirror, self._mirror = self.rec, self, mirror
        return self._mirror

    def compare(self, r: Schema, rp: str, w: Schema, wp: str) -> list[_Finding]:
        """Everything that makes reader subschema `r` reject values of writer subschema `w`."""
        r, rp = _settle(r, rp, self.reader_doc)
        w, wp = _settle(w, wp, self.writer_doc)
        if w is False or _accepts_all(r):
            return []
        if r is False:
            return [_Finding(rp, wp, "TYPE_CHANGED", "the reader schema is `false`")]
        if not isinstance(r, Mapping) or not isinstance(w, Mapping):
            return [_Finding(rp, wp, "TYPE_CHANGED", "cannot prove compatibility of a non-schema")]
        if (rp, wp) in self.memo:
            return self.memo[(rp, wp)]
        # A writer accepting anything has many (absent) locations but is always the same writer.
        loop, rec = (self.swapped, rp, "" if _accepts_all(w) else f"#{wp}"), self.rec
        if loop in rec.active:
            rec.hits += 1
            if rec.active[loop] < rec.level:  # recursion into a nested value: assume the pair
                return []
            detail = "cannot prove compatibility of a schema that refers to itself for one value"
            return [_Finding(rp, wp, "UNRESOLVED_REFERENCE", detail)]
        rec.active[loop], hits = rec.level, rec.hits
        try:
            found = self._pair(_Pair(r, rp, w, wp))
        finally:
            del rec.active[loop]
        if hits == rec.hits:  # results that leaned on a recursion assumption are not reused
            self.memo[(rp, wp)] = found
        return found

    def _inner(self, r: Schema, rp: str, w: Schema, wp: str) -> list[_Finding]:
        """`compare` for a value nested inside the current one (property, item, ...)."""
        self.rec.level += 1
        try:
            return self.compare(r, rp, w, wp)
        finally:
            self.rec.level -= 1

    def _each(self, schemas: Iterable[tuple[Schema, str]], w: Schema, wp: str) -> list[_Finding]:
        return [f for r, rp in schemas for f in self.compare(r, rp, w, wp)]

    def _pair(self, p: _Pair) -> list[_Finding]:
        rk, wk = _pure_combinator(p.r), _pure_combinator(p.w)
        if wk in _SUMS and rk not in _SUMS:  # every writer branch must be readable
            return [
                f
                for i, branch in enumerate(p.w[wk])
                for f in self.compare(p.r, p.rp, branch, _child(p.wp, wk, i))
            ]
        if rk == "allOf" and wk == "allOf":
            return self._products(p)
        if rk == "allOf":  # every reader conjunct must accept the writer
            return self._each(_members(p.r, p.rp, "allOf"), p.w, p.wp)
        if wk == "allOf":
            if self._fits_writer_part(p):
                return []
            detail = "cannot prove the reader accepts values satisfying all of the writer's allOf"
            return [_Finding(p.rp, _child(p.wp, "allOf"), "COMBINED_TYPE_CHANGED", detail)]
        return self._general(p)

    def _general(self, p: _Pair) -> list[_Finding]:
        found = self._keywords(p) + self._reader_combinators(p)
        if "$ref" in p.r:
            found += self._reader_ref(p)
        narrower = "$ref" in p.w or "allOf" in p.w  # than the writer's own keywords say
        return [] if found and narrower and self._fits_writer_part(p) else found

    def _fits_writer_part(self, p: _Pair) -> bool:
        """Does the reader accept one of the schemas the writer is the conjunction of?

        Those are its $ref target, its allOf parts and, unless already inside one, their merge.
        """
        parts = _members(p.w, p.wp, "allOf")
        if (target := _resolve(self.writer_doc, p.w.get("$ref"))) is not None:
            parts.insert(0, target)
        if any(not self.compare(p.r, p.rp, s, sp) for s, sp in parts):
            return True
        rest = {k: v for k, v in p.w.items() if k not in ("$ref", "allOf")}
        merged = _merge([rest, *(_settle(s, sp, self.writer_doc)[0] for s, sp in parts)])
        if merged is None or self.rec.merging or not (len(parts) > 1 or _assertion_keys(rest)):
            return False
        self.rec.merging += 1  # a merge holds copies of subschemas away from their pointers
        try:
            at = _child(p.wp, "allOf" if "allOf" in p.w else "$ref")
            return not self.compare(p.r, p.rp, merged, at)
        finally:
            self.rec.merging -= 1

    def _reader_ref(self, p: _Pair) -> list[_Finding]:
        ref = p.r["$ref"]
        if (target := _resolve(self.reader_doc, ref)) is not None:
            return self.compare(target[0], target[1], p.w, p.wp)
        if isinstance(ref, str) and not ref.startswith("#") and p.w.get("$ref") == ref:
            return []  # the same external schema on both sides
        detail = f"cannot prove compatibility through unresolvable $ref {ref!r}"
        return [p.finding("UNRESOLVED_REFERENCE", detail, "$ref")]

    # ----------------------------------------------------------------- keyword families

    def _keywords(self, p: _Pair) -> list[_Finding]:
        rtypes, wtypes = _declared_types(p.r), _writer_types(p.w)
        shared = {t for t in wtypes if _type_accepts(rtypes, t)}
        found = _type(p, wtypes) + _enum(p, rtypes, wtypes)
        if shared & {"number", "integer"}:
            found += _numbers(p) + _multiple_of(p, shared)
        if "string" in shared:
            found += _limits(p, "minLength", "maxLength") + _text(p)
        if "object" in shared:
            found += self._objects(p)
        if "array" in shared:
            found += self._arrays(p)
        return found + _opaque(p)

    # ----------------------------------------------------------------- combinators

    def _reader_combinators(self, p: _Pair) -> list[_Finding]:
        found = self._each(_members(p.r, p.rp, "allOf"), p.w, p.wp)
        for key in _SUMS:
            if not isinstance(p.r.get(key), list):
                continue
            wkey = key if key in p.w else next((k for k in _SUMS if k in p.w), None)
            found += self._sums(p, key, wkey) if wkey else self._some_branch(p, key)
        found += self._exclusive(p) if isinstance(p.r.get("oneOf"), list) else []
        return found + (self._not(p) if "not" in p.r else [])

    def _some_branch(self, p: _Pair, key: str) -> list[_Finding]:
        """A reader oneOf/anyOf against a writer without one: some branch must accept it all."""
        results = [self.compare(s, sp, p.w, p.wp) for s, sp in _members(p.r, p.rp, key)]
        if any(not found for found in results):
            return []
        detail = f"none of the {len(results)} {key} branches accepts every value the writer allows"
        head = _Finding(_child(p.rp, key), p.wp, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail)
        closest: list[_Finding] = min(results, key=len, default=[])
        return [head, *closest]

    def _sums(self, p: _Pair, rkey: str, wkey: str) -> list[_Finding]:
        """Every writer branch must be accepted by some reader branch (same position first)."""
        rb, wb, at = _members(p.r, p.rp, rkey), _members(p.w, p.wp, wkey), _child(p.rp, rkey)
        found: list[_Finding] = []
        for i, (branch, bp) in enumerate(wb):
            results: list[list[_Finding]] = []
            for s, sp in _position_first(rb, i):
                results.append(self.compare(s, sp, branch, bp))
                if not results[-1]:
                    break
            if results and not results[-1]:
                continue
            if i >= len(rb):
                detail = f"{rkey} lost branches; none accepts writer branch {i} {_brief(branch)}"
                found.append(_Finding(at, bp, "SUM_TYPE_NARROWED", detail))
                continue
            detail = f"no {rkey} branch accepts writer branch {i} {_brief(branch)}"
            closest: list[_Finding] = min(results, key=len)  # its reasons explain the change
            found += [_Finding(at, bp, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail), *closest]
        return found

    def _exclusive(self, p: _Pair) -> list[_Finding]:
        """oneOf rejects a value matching two branches: prove that cannot happen to writer data."""
        branches = [_settle(s, sp, self.reader_doc) for s, sp in _members(p.r, p.rp, "oneOf")]
        for (j, (a, ap)), (k, (b, bp)) in combinations(enumerate(branches), 2):
            if self._disjoint(a, b, self.reader_doc) or self._writer_separates(p, a, ap, b, bp):
                continue
            if self._disjoint(a, p.w, self.writer_doc) or self._disjoint(b, p.w, self.writer_doc):
                continue
            detail = f"cannot prove oneOf branches {j} and {k} exclude each other for writer data"
            return [_Finding(_child(p.rp, "oneOf"), p.wp, "COMBINED_TYPE_CHANGED", detail)]
        return []

    def _writer_separates(self, p: _Pair, a: Schema, ap: str, b: Schema, bp: str) -> bool:
        """Are `a` and `b` equivalent to two distinct branches of the writer's own oneOf?"""

        def same(r: Schema, rp: str, w: Schema, wp: str) -> bool:
            return not self.compare(r, rp, w, wp) and not self.mirror.compare(w, wp, r, rp)

        wb = _members(p.w, p.wp, "oneOf")
        return any(
            i != k and same(a, ap, *wb[i]) and same(b, bp, *wb[k])
            for i, k in permutations(range(len(wb)), 2)
        )

    def _disjoint(self, a: Schema, b: Schema, b_doc: Schema, depth: int = 0) -> bool:
        """Provably no value matches both `a` (a reader subschema) and `b` (in `b_doc`)?"""
        a, _ = _settle(a, "", self.reader_doc)
        b, _ = _settle(b, "", b_doc)
        if a is False or b is False:
            return True
        if not isinstance(a, Mapping) or not isinstance(b, Mapping) or depth > _MAX_NOT_DEPTH:
            return False
        ta, tb = _writer_types(a), _writer_types(b)
        if not (ta & tb or _mixed(ta, tb)):
            return True
        va, vb = _values(a), _values(b)
        if va is not None and vb is not None and not {*map(_canon, va)} & {*map(_canon, vb)}:
            return True
        if not (ta <= {"object"} or tb <= {"object"}):  # required only constrains objects
            return False
        pa, pb = _map(a, "properties"), _map(b, "properties")
        both = _names(a, "required") & _names(b, "required") & set(pa) & set(pb)
        return any(self._disjoint(pa[n], pb[n], b_doc, depth + 1) for n in sorted(both))

    def _products(self, p: _Pair) -> list[_Finding]:
        """Every reader allOf conjunct must accept some writer conjunct (same position first)."""
        rb, wb = _members(p.r, p.rp, "allOf"), _members(p.w, p.wp, "allOf")
        found: list[_Finding] = []
        for j, (part, pp) in enumerate(rb):
            if any(not self.compare(part, pp, s, sp) for s, sp in _position_first(wb, j)):
                continue
            if j >= len(wb):
                detail = f"allOf gained conjunct {j} {_brief(part)} the writer never had to satisfy"
                found.append(_Finding(pp, _child(p.wp, "allOf"), "PRODUCT_TYPE_EXTENDED", detail))
                continue
            detail = f"allOf conjunct {j} accepts none of the writer's conjuncts"
            found.append(_Finding(pp, wb[j][1], "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail))
            found += self.compare(part, pp, *wb[j])
        return found

    def _not(self, p: _Pair) -> list[_Finding]:
        """Confluent's NotSchemaDiff: what the reader excludes must be excluded by the writer."""
        at, wat = _child(p.rp, "not"), _child(p.wp, "not")
        if "not" in p.w and self.not_depth < _MAX_NOT_DEPTH:
            swapped = _Diff(self.writer_doc, self.reader_doc, self.not_depth + 1)
            if not swapped.compare(p.w["not"], wat, p.r["not"], at):
                return []
        detail = "`not` added or widened; cannot prove no value the writer allows is now excluded"
        return [_Finding(at, wat, "NOT_TYPE_EXTENDED", detail)]

    # ----------------------------------------------------------------- objects

    def _objects(self, p: _Pair) -> list[_Finding]:
        found = _required(p)
        for name in sorted(set(_map(p.r, "properties")) | set(_map(p.w, "properties"))):
            found += self._property(p, name)
        found += self._pattern_properties(p) + self._additional(p) + self._dependencies(p)
        if "propertyNames" in p.r:
            names = p.w.get("propertyNames", _STRING)
            at, wat = _child(p.rp, "propertyNames"), _child(p.wp, "propertyNames")
            found += self._inner(p.r["propertyNames"], at, names, wat)
        return found + _limits(p, "minProperties", "maxProperties")

    def _property(self, p: _Pair, name: str) -> list[_Finding]:
        """A property either side declares, against every subschema the other applies to it."""
        wslots = _slots(p.w, p.wp, name, reader=False)
        wslots = wslots or [(True, _child(p.wp, "properties", name), "open")]
        declared = name in _map(p.r, "properties")
        found: list[_Finding] = []
        for rs, rsp, rorigin in _slots(p.r, p.rp, name, reader=True):
            results = [self._inner(rs, rsp, ws, wsp) for ws, wsp, _ in wslots]
            if any(not res for res in results):
                continue
            worigin, nested = wslots[0][2], results[0]
            if declared and rorigin == "properties" and worigin == "open":
                kind, detail = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", _ADDED_TO_OPEN
                nested = []
            elif declared and rorigin == "properties" and worigin != "properties":
                kind, detail = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", _ADDED
            elif not declared and rs is False:
                kind, detail = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", _REMOVED_FROM_CLOSED
                nested = []
            elif not declared:
                kind, detail = (
                    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    _REMOVED,
                )
            else:
                found += nested
                continue
            found += [p.finding(kind, detail, "properties", name), *nested]
        return found

    def _pattern_properties(self, p: _Pair) -> list[_Finding]:
        """Reader patterns against the writer's values for undeclared property names."""
        wpp = _map(p.w, "patternProperties")
        rest = (p.w.get("additionalProperties", True), _child(p.wp, "additionalProperties"))
        found: list[_Finding] = []
        for pattern, rs in _map(p.r, "patternProperties").items():
            at, wat = (
                _child(p.rp, "patternProperties", pattern),
                _child(p.wp, "patternProperties", pattern),
            )
            if pattern in wpp:
                found += self._inner(rs, at, wpp[pattern], wat)
                continue
            sources = [*_members(p.w, p.wp, "patternProperties"), rest]
            if any(self._inner(rs, at, s, sp) for s, sp in sources):
                detail = f"patternProperties {pattern!r} added; the writer may send matching names"
                found.append(_Finding(at, wat, "PATTERN_PROPERTIES_NARROWED", detail + _REJECTED))
        return found

    def _additional(self, p: _Pair) -> list[_Finding]:
        """The reader's additionalProperties against what the writer may send undeclared."""
        if "additionalProperties" not in p.r:
            return []
        rest, at = p.r["additionalProperties"], _child(p.rp, "additionalProperties")
        rpp = _map(p.r, "patternProperties")
        sources = [
            (s, _child(p.wp, "patternProperties", q))
            for q, s in _map(p.w, "patternProperties").items()
            if q not in rpp
        ]
        wrest = (p.w.get("additionalProperties", True), _child(p.wp, "additionalProperties"))
        found: list[_Finding] = []
        for ws, wsp in [*sources, wrest]:
            nested = self._inner(rest, at, ws, wsp)
            if not nested:
                continue
            if rest is False:
                detail = "additionalProperties closed; the writer may send undeclared properties"
                return [*found, _Finding(at, wsp, "ADDITIONAL_PROPERTIES_REMOVED", detail)]
            if "additionalProperties" not in p.w and wsp == wrest[1]:
                detail = "additionalProperties constrained; the writer's open content model"
                found.append(_Finding(at, wsp, "ADDITIONAL_PROPERTIES_NARROWED", detail + _ANY))
            else:
                found += nested
        return found

    def _dependencies(self, p: _Pair) -> list[_Finding]:
        found = []
        wdeps, always = _map(p.w, "dependentRequired"), _names(p.w, "required")
        rdeps = _map(p.r, "dependentRequired")
        for name in rdeps:
            extra = sorted(_names(rdeps, name) - _names(wdeps, name) - always)
            if extra:
                kind = "DEPENDENCY_ARRAY_EXTENDED" if name in wdeps else "DEPENDENCY_ARRAY_ADDED"
                detail = f"when {name!r} is present the reader now also requires {extra}"
                found.append(p.finding(kind, detail, "dependentRequired", name))
        wschemas = _map(p.w, "dependentSchemas")
        for name, rs in _map(p.r, "dependentSchemas").items():
            at, wat = _child(p.rp, "dependentSchemas", name), _child(p.wp, "dependentSchemas", name)
            if name in wschemas:
                found += self.compare(rs, at, wschemas[name], wat)
            elif not _accepts_all(rs):
                detail = (
                    f"dependentSchemas for {name!r} added; cannot prove the writer satisfies it"
                )
                found.append(_Finding(at, wat, "DEPENDENCY_SCHEMA_ADDED", detail))
        return found

    # ----------------------------------------------------------------- arrays

    def _arrays(self, p: _Pair) -> list[_Finding]:
        found = self._positions(p) + self._rest_items(p) + self._contains(p)
        short = _number(p.w.get("maxItems")) in (0, 1)
        if p.r.get("uniqueItems") is True and p.w.get("uniqueItems") is not True and not short:
            detail = "uniqueItems added; the writer may send arrays with duplicates"
            found.append(p.finding("UNIQUE_ITEMS_ADDED", detail, "uniqueItems"))
        return found + _limits(p, "minItems", "maxItems")

    def _positions(self, p: _Pair) -> list[_Finding]:
        """prefixItems (or draft-7 array-form items), position by position."""
        (rpre, rrest, rpk, rrk), (wpre, wrest, wpk, wrk) = _array_parts(p.r), _array_parts(p.w)
        found: list[_Finding] = []
        for i in range(max(len(rpre), len(wpre))):
            in_r, in_w = i < len(rpre), i < len(wpre)
            rs, rsp = (rpre[i], _child(p.rp, rpk, i)) if in_r else (rrest, _child(p.rp, rrk))
            ws, wsp = (wpre[i], _child(p.wp, wpk, i)) if in_w else (wrest, _child(p.wp, wrk))
            nested = [] if rs is None else self._inner(rs, rsp, True if ws is None else ws, wsp)
            if not nested or (in_r and in_w):
                found += nested
                continue
            if in_r and ws is None:
                kind, detail, nested = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", _ADDED_TO_OPEN, []
            elif in_r:
                kind, detail = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", _ADDED
            elif rs is False:
                kind, detail, nested = (
                    "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    _REMOVED_FROM_CLOSED,
                    [],
                )
            else:
                kind, detail = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", _REMOVED
            at = _Finding(_child(p.rp, rpk, i), _child(p.wp, wpk, i), kind, f"item {i} {detail}")
            found += [at, *nested]
        return found

    def _rest_items(self, p: _Pair) -> list[_Finding]:
        """Items after every positional schema: ``items`` (2020-12) or ``additionalItems``."""
        (_, rrest, _, rrk), (_, wrest, _, wrk) = _array_parts(p.r), _array_parts(p.w)
        if rrest is None:
            return []
        at, wat = _child(p.rp, rrk), _child(p.wp, wrk)
        nested = self._inner(rrest, at, True if wrest is None else wrest, wat)
        if not nested or wrest is not None:
            return nested
        if rrest is False:
            detail = "array closed to further items; the writer may send longer arrays"
            return [_Finding(at, wat, "ADDITIONAL_ITEMS_REMOVED", detail)]
        detail = "items constrained; the writer's open arrays" + _ANY
        return [_Finding(at, wat, "ADDITIONAL_ITEMS_NARROWED", detail)]

    def _contains(self, p: _Pair) -> list[_Finding]:
        if "contains" not in p.r:
            return []
        if "contains" not in p.w:
            detail = "contains added; the writer's arrays need not hold a matching item"
            return [p.finding("CONTAINS_ADDED", detail, "contains")]
        at, wat = _child(p.rp, "contains"), _child(p.wp, "contains")
        found = self._inner(p.r["contains"], at, p.w["contains"], wat)
        counts = _Pair(
            {"minContains": p.r.get("minContains", 1)},
            p.rp,
            {"minContains": p.w.get("minContains", 1)},
            p.wp,
        )
        found += _limits(counts, "minContains")
        same = _canon(p.r["contains"]) == _canon(p.w["contains"])
        if "maxContains" in p.r and not (same and '"$ref"' not in _canon(p.r["contains"])):
            detail = "maxContains with a changed contains schema; cannot prove the count holds"
            return [*found, p.finding("MAX_CONTAINS_ADDED", detail, "maxContains")]
        return found + _limits(p, "maxContains")


_ADDED_TO_OPEN = (
    "added with a schema that does not accept every value; "
    "the writer's open content model may already carry it"
)
_ADDED = "added; the writer's partially open content model may carry values it rejects"
_REMOVED_FROM_CLOSED = "removed from a closed content model; the writer may still send it"
_REMOVED = "removed; the reader's remaining content model rejects values the writer may send"
_REJECTED = " with values it rejects"
_ANY = " may send any value"


# --------------------------------------------------------------------------- keyword rules


def _type(p: _Pair, wtypes: frozenset[str]) -> list[_Finding]:
    rtypes = _declared_types(p.r)
    lost = sorted(t for t in wtypes if not _type_accepts(rtypes, t))
    if not lost:
        return []
    overlap = len(lost) < len(wtypes) or ("number" in wtypes and "integer" in rtypes)
    kind = "TYPE_NARROWED" if overlap else "TYPE_CHANGED"
    lost_text = "other" if wtypes == _ANY_TYPE else ", ".join(lost)
    detail = (
        f"type narrowed from {_shown_types(p.w)} to {_shown_types(p.r)}; "
        f"the reader rejects {lost_text} values the writer allows"
    )
    return [p.finding(kind, detail, "type")]


def _enum(p: _Pair, rtypes: frozenset[str], wtypes: frozenset[str]) -> list[_Finding]:
    allowed = _values(p.r)
    if allowed is None:
        return []
    keyword = "const" if "const" in p.r else "enum"
    at, wat = _child(p.rp, keyword), _child(p.wp, "const" if "const" in p.w else "enum")
    written = _values(p.w)
    if written is None and wtypes <= {"null", "boolean"}:
        written = [v for t, v in _FINITE if t in wtypes]
    if written is None:
        detail = f"{keyword} {_brief(p.r[keyword])} added; the writer allowed any value"
        return [_Finding(at, wat, "ENUM_ARRAY_NARROWED", detail)]
    keys = {_canon(v) for v in allowed}
    missing = [
        v for v in written if _canon(v) not in keys and _type_accepts(rtypes, _value_type(v))
    ]
    if not missing:
        return []
    kind = "ENUM_ARRAY_NARROWED" if keys <= {_canon(v) for v in written} else "ENUM_ARRAY_CHANGED"
    detail = f"{keyword} no longer allows {_brief(missing)}, which the writer may send"
    return [_Finding(at, wat, kind, detail)]


_FINITE = (("null", None), ("boolean", True), ("boolean", False))
_BOUNDS = (
    ("minimum", True, False),
    ("exclusiveMinimum", True, True),
    ("maximum", False, False),
    ("exclusiveMaximum", False, True),
)


def _numbers(p: _Pair) -> list[_Finding]:
    """minimum/maximum/exclusive*: each reader bound must hold for the writer's range."""
    found = []
    for keyword, lower, exclusive in _BOUNDS:
        limit = _number(p.r.get(keyword))
        if limit is None:
            continue
        bound = _writer_bound(p.w, lower)
        if bound is not None and _bound_holds(limit, exclusive, bound, lower):
            continue
        change = "ADDED" if bound is None else ("INCREASED" if lower else "DECREASED")
        was = "no bound" if bound is None else ("> " if bound[1] else ">= ") + str(bound[0])
        was = was if lower else was.replace(">", "<")
        detail = f"{keyword} {limit} is stricter than the writer's range ({was})"
        found.append(p.finding(f"{_snake(keyword)}_{change}", detail, keyword))
    return found


def _multiple_of(p: _Pair, shared: set[str]) -> list[_Finding]:
    step = _fraction(p.r.get("multipleOf"))
    if step is None:
        return []
    written = _fraction(p.w.get("multipleOf"))
    effective = Fraction(1) if written is None and shared == {"integer"} else written
    if effective is not None and (effective / step).denominator == 1:
        return []
    if written is None:
        kind = "MULTIPLE_OF_ADDED"
    elif (step / written).denominator == 1:
        kind = "MULTIPLE_OF_EXPANDED"
    else:
        kind = "MULTIPLE_OF_CHANGED"
    was = p.w.get("multipleOf", "absent")
    detail = f"multipleOf {p.r['multipleOf']} rejects numbers the writer allows (was {was})"
    return [p.finding(kind, detail, "multipleOf")]


def _limits(p: _Pair, *keywords: str) -> list[_Finding]:
    """minLength/maxLength, minItems/maxItems, minProperties/maxProperties, min/maxContains."""
    found = []
    for keyword in keywords:
        limit, written = _number(p.r.get(keyword)), _number(p.w.get(keyword))
        if limit is None:
            continue
        is_min = keyword.startswith("min")
        current = written if written is not None else (0 if is_min else math.inf)
        if (limit <= current) if is_min else (limit >= current):
            continue
        change = "ADDED" if written is None else ("INCREASED" if is_min else "DECREASED")
        was = "absent" if written is None else f"was {written}"
        detail = f"{keyword} {limit} is stricter than the writer's ({was})"
        found.append(p.finding(f"{_snake(keyword)}_{change}", detail, keyword))
    return found


def _text(p: _Pair) -> list[_Finding]:
    """pattern and format: any addition or change in the reader cannot be proven safe."""
    found = []
    for keyword in ("pattern", "format"):
        if keyword not in p.r or p.r[keyword] == p.w.get(keyword):
            continue
        if keyword in p.w:
            kind = f"{keyword.upper()}_CHANGED"
            detail = f"{keyword} changed from {p.w[keyword]!r} to {p.r[keyword]!r}"
        else:
            kind, detail = f"{keyword.upper()}_ADDED", f"{keyword} {p.r[keyword]!r} added"
        detail += "; cannot prove every string the writer allows still matches"
        found.append(p.finding(kind, detail, keyword))
    return found


def _opaque(p: _Pair) -> list[_Finding]:
    found = []
    for keyword, kind in _OPAQUE.items():
        if keyword not in p.r or _accepts_all(p.r[keyword]):
            continue
        text = _canon(p.r[keyword])
        if keyword in p.w and text == _canon(p.w[keyword]) and '"$ref"' not in text:
            continue
        detail = f"{keyword} added or changed; cannot prove it accepts all the writer allows"
        found.append(p.finding(kind, detail, keyword))
    return found


def _required(p: _Pair) -> list[_Finding]:
    found = []
    for name in sorted(_names(p.r, "required") - _names(p.w, "required")):
        if name in _map(p.w, "properties"):
            kind = "REQUIRED_ATTRIBUTE_ADDED"
        elif _is_open(p.w):
            kind = "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        else:
            kind = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
        detail = f"{name!r} is now required; the writer may omit it"
        found.append(p.finding(kind, detail, "required"))
    return found


# --------------------------------------------------------------------------- small helpers


def _settle(schema: Schema, ptr: str, doc: Schema) -> tuple[Schema, str]:
    """Follow bare ``$ref``s and unwrap single-branch combinators; ``true`` becomes {}."""
    for _ in range(_MAX_HOPS):
        if schema is True:
            return _EMPTY, ptr
        if not isinstance(schema, Mapping):
            return schema, ptr
        combinator = _pure_combinator(schema)
        if _assertion_keys(schema) == {"$ref"} and (target := _resolve(doc, schema["$ref"])):
            schema, ptr = target
        elif combinator is not None and len(schema[combinator]) == 1:
            schema, ptr = schema[combinator][0], _child(ptr, combinator, 0)
        else:
            return schema, ptr
    return schema, ptr


def _members(schema: _Obj, ptr: str, key: str) -> list[tuple[Schema, str]]:
    """Subschemas of an array keyword (allOf, ...) or a map keyword (patternProperties)."""
    value = schema.get(key)
    if isinstance(value, Mapping):
        return [(sub, _child(ptr, key, name)) for name, sub in value.items()]
    return [(sub, _child(ptr, key, i)) for i, sub in enumerate(value or [])]


def _position_first(items: list[tuple[Schema, str]], i: int) -> list[tuple[Schema, str]]:
    return items[i : i + 1] + items[:i] + items[i + 1 :]


def _slots(s: _Obj, ptr: str, name: str, reader: bool) -> list[_Slot]:
    """The subschemas `s` applies to property `name` (properties, patterns, additional)."""
    slots: list[_Slot] = []
    props = _map(s, "properties")
    if name in props:
        slots.append((props[name], _child(ptr, "properties", name), "properties"))
    matched = False
    for pattern, sub in _map(s, "patternProperties").items():
        hit = _matches(pattern, name)  # None: a regex Python cannot evaluate
        if hit or (hit is None and reader):  # a reader is assumed to apply it
            slots.append((sub, _child(ptr, "patternProperties", pattern), "patternProperties"))
        elif hit is None:  # nothing is assumed about what such a writer sends
            slots.append((True, _child(ptr, "properties", name), "open"))
        matched = matched or bool(hit) or (hit is None and not reader)
    if name not in props and not matched and "additionalProperties" in s:
        rest = s["additionalProperties"]
        slots.append((rest, _child(ptr, "additionalProperties"), "additionalProperties"))
    return slots


def _merge(parts: list[Schema]) -> _Obj | None:
    """One schema accepting at least what all `parts` accept together, if no keyword clashes.

    Keywords that read their siblings (additionalProperties, items, ...) only get wider when
    merged, so the result may accept more than the conjunction but never less.
    """
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, Mapping):
            return None
        keys = _assertion_keys(part)
        if keys & set(merged):
            return None
        merged.update({key: part[key] for key in keys})
    return merged


def _map(schema: _Obj, key: str) -> _Obj:
    """A keyword whose value is an object (properties, ...); {} when absent or malformed."""
    value = schema.get(key)
    return value if isinstance(value, Mapping) else {}


def _names(schema: _Obj, key: str) -> set[str]:
    """A keyword whose value is a list of names (required, ...); empty when malformed."""
    value = schema.get(key)
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _mixed(ta: frozenset[str], tb: frozenset[str]) -> set[str]:
    """Integers are numbers: "integer" on one side overlaps "number" on the other."""
    overlap = ("integer" in ta and "number" in tb) or ("integer" in tb and "number" in ta)
    return {"integer"} if overlap else set()


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).upper()


def _writer_bound(w: _Obj, lower: bool) -> tuple[float, bool] | None:
    """The writer's tightest lower (or upper) bound as (value, exclusive)."""
    keys = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    bounds = [
        (value, exclusive)
        for key, exclusive in zip(keys, (False, True), strict=True)
        if (value := _number(w.get(key))) is not None
    ]
    if not bounds:
        return None
    return max(bounds) if lower else min(bounds, key=lambda b: (b[0], not b[1]))


def _bound_holds(limit: float, exclusive: bool, bound: tuple[float, bool], lower: bool) -> bool:
    """Does every number within the writer's `bound` satisfy the reader's `limit`?"""
    value, bound_exclusive = bound
    if value == limit:
        return bound_exclusive or not exclusive
    return value > limit if lower else value < limit
