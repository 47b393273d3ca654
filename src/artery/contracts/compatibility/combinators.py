"""Combinator rules: ``oneOf``/``anyOf`` (sums), ``allOf`` (products) and ``not``.

Every writer sum branch must be accepted by some reader branch (same position first, then
any); every reader ``allOf`` part must accept the writer, whose own ``allOf`` parts (and
their merge) may be used to show it; a reader ``oneOf`` must also be shown to match writer
data only once. ``not`` follows Confluent's ``NotSchemaDiff``.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations, permutations
from typing import TYPE_CHECKING, Any

from artery.contracts.compatibility.model import Finding, Obj, Pair, Schema
from artery.contracts.compatibility.pointers import child
from artery.contracts.compatibility.refs import REF_KEYS, ref_target, settle
from artery.contracts.compatibility.schema import (
    SUMS,
    assertion_keys,
    brief,
    canon,
    keyword_map,
    keyword_names,
    members,
    position_first,
)
from artery.contracts.compatibility.types import allowed_values, writer_types

if TYPE_CHECKING:
    from artery.contracts.compatibility.diff import Diff

_MAX_NOT_DEPTH = 4


def combinator_findings(d: Diff, p: Pair) -> list[Finding]:
    """The reader's allOf, anyOf, oneOf and not beside other keywords."""
    found = d.each(members(p.r, p.rp, "allOf"), p.w, p.wp)
    for key in SUMS:
        if not isinstance(p.r.get(key), list):
            continue
        wkey = key if key in p.w else next((k for k in SUMS if k in p.w), None)
        found += _sums(d, p, key, wkey) if wkey else _some_branch(d, p, key)
    found += _exclusive(d, p) if isinstance(p.r.get("oneOf"), list) else []
    return found + (_not(d, p) if "not" in p.r else [])


def product_findings(d: Diff, p: Pair) -> list[Finding]:
    """Every reader allOf conjunct must accept some writer conjunct (same position first)."""
    rb, wb = members(p.r, p.rp, "allOf"), members(p.w, p.wp, "allOf")
    found: list[Finding] = []
    for j, (part, pp) in enumerate(rb):
        if any(not d.compare(part, pp, s, sp) for s, sp in position_first(wb, j)):
            continue
        if j >= len(wb):
            detail = f"allOf gained conjunct {j} {brief(part)} the writer never had to satisfy"
            found.append(Finding(pp, child(p.wp, "allOf"), "PRODUCT_TYPE_EXTENDED", detail))
            continue
        detail = f"allOf conjunct {j} accepts none of the writer's conjuncts"
        found.append(Finding(pp, wb[j][1], "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail))
        found += d.compare(part, pp, *wb[j])
    return found


def fits_writer_part(d: Diff, p: Pair) -> bool:
    """Does the reader accept one of the schemas the writer is the conjunction of?

    Those are its $ref target, its allOf parts and, unless already inside one, their merge.
    """
    parts = members(p.w, p.wp, "allOf")
    if (target := ref_target(d.writer_doc, p.w)) is not None:
        parts.insert(0, target)
    if any(not d.compare(p.r, p.rp, s, sp) for s, sp in parts):
        return True
    rest = {k: v for k, v in p.w.items() if k not in (*REF_KEYS, "allOf")}
    merged = _merge([rest, *(settle(s, sp, d.writer_doc)[0] for s, sp in parts)])
    if merged is None or d.rec.merging or not (len(parts) > 1 or assertion_keys(rest)):
        return False
    d.rec.merging += 1  # a merge holds copies of subschemas away from their pointers
    try:
        at = child(p.wp, "allOf" if "allOf" in p.w else next(k for k in REF_KEYS if k in p.w))
        return not d.compare(p.r, p.rp, merged, at)
    finally:
        d.rec.merging -= 1


def _some_branch(d: Diff, p: Pair, key: str) -> list[Finding]:
    """A reader oneOf/anyOf against a writer without one: some branch must accept it all."""
    results = [d.compare(s, sp, p.w, p.wp) for s, sp in members(p.r, p.rp, key)]
    if any(not found for found in results):
        return []
    detail = f"none of the {len(results)} {key} branches accepts every value the writer allows"
    head = Finding(child(p.rp, key), p.wp, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail)
    closest: list[Finding] = min(results, key=len, default=[])
    return [head, *closest]


def _sums(d: Diff, p: Pair, rkey: str, wkey: str) -> list[Finding]:
    """Every writer branch must be accepted by some reader branch (same position first)."""
    rb, wb, at = members(p.r, p.rp, rkey), members(p.w, p.wp, wkey), child(p.rp, rkey)
    found: list[Finding] = []
    for i, (branch, bp) in enumerate(wb):
        results: list[list[Finding]] = []
        for s, sp in position_first(rb, i):
            results.append(d.compare(s, sp, branch, bp))
            if not results[-1]:
                break
        if results and not results[-1]:
            continue
        if i >= len(rb):
            detail = f"{rkey} lost branches; none accepts writer branch {i} {brief(branch)}"
            found.append(Finding(at, bp, "SUM_TYPE_NARROWED", detail))
            continue
        detail = f"no {rkey} branch accepts writer branch {i} {brief(branch)}"
        closest: list[Finding] = min(results, key=len)  # its reasons explain the change
        found += [Finding(at, bp, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", detail), *closest]
    return found


def _exclusive(d: Diff, p: Pair) -> list[Finding]:
    """oneOf rejects a value matching two branches: prove that cannot happen to writer data."""
    branches = [settle(s, sp, d.reader_doc) for s, sp in members(p.r, p.rp, "oneOf")]
    for (j, (a, ap)), (k, (b, bp)) in combinations(enumerate(branches), 2):
        d.deadline.check()  # quadratic in the branches, even when no pair needs comparing
        if _disjoint(d, a, b, d.reader_doc) or _writer_separates(d, p, a, ap, b, bp):
            continue
        if _disjoint(d, a, p.w, d.writer_doc) or _disjoint(d, b, p.w, d.writer_doc):
            continue
        detail = f"cannot prove oneOf branches {j} and {k} exclude each other for writer data"
        return [Finding(child(p.rp, "oneOf"), p.wp, "COMBINED_TYPE_CHANGED", detail)]
    return []


def _writer_separates(d: Diff, p: Pair, a: Schema, ap: str, b: Schema, bp: str) -> bool:
    """Are `a` and `b` equivalent to two distinct branches of the writer's own oneOf?"""

    def same(r: Schema, rp: str, w: Schema, wp: str) -> bool:
        return not d.compare(r, rp, w, wp) and not d.mirror.compare(w, wp, r, rp)

    wb = members(p.w, p.wp, "oneOf")
    return any(
        i != k and same(a, ap, *wb[i]) and same(b, bp, *wb[k])
        for i, k in permutations(range(len(wb)), 2)
    )


def _disjoint(d: Diff, a: Schema, b: Schema, b_doc: Schema, depth: int = 0) -> bool:
    """Provably no value matches both `a` (a reader subschema) and `b` (in `b_doc`)?"""
    a, _ = settle(a, "", d.reader_doc)
    b, _ = settle(b, "", b_doc)
    if a is False or b is False:
        return True
    if not isinstance(a, Mapping) or not isinstance(b, Mapping) or depth > _MAX_NOT_DEPTH:
        return False
    ta, tb = writer_types(a), writer_types(b)
    if not (ta & tb or _mixed(ta, tb)):
        return True
    va, vb = allowed_values(a), allowed_values(b)
    if va is not None and vb is not None and not {*map(canon, va)} & {*map(canon, vb)}:
        return True
    if not (ta <= {"object"} or tb <= {"object"}):  # required only constrains objects
        return False
    pa, pb = keyword_map(a, "properties"), keyword_map(b, "properties")
    both = keyword_names(a, "required") & keyword_names(b, "required") & set(pa) & set(pb)
    return any(_disjoint(d, pa[n], pb[n], b_doc, depth + 1) for n in sorted(both))


def _not(d: Diff, p: Pair) -> list[Finding]:
    """Confluent's NotSchemaDiff: what the reader excludes must be excluded by the writer."""
    at, wat = child(p.rp, "not"), child(p.wp, "not")
    if "not" in p.w and d.not_depth < _MAX_NOT_DEPTH:
        swapped = d.under_not()
        if not swapped.compare(p.w["not"], wat, p.r["not"], at):
            return []
    detail = "`not` added or widened; cannot prove no value the writer allows is now excluded"
    return [Finding(at, wat, "NOT_TYPE_EXTENDED", detail)]


def _merge(parts: list[Schema]) -> Obj | None:
    """One schema accepting at least what all `parts` accept together, if no keyword clashes.

    Keywords that read their siblings (additionalProperties, items, ...) only get wider when
    merged, so the result may accept more than the conjunction but never less.
    """
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, Mapping):
            return None
        keys = assertion_keys(part)
        if keys & set(merged):
            return None
        merged.update({key: part[key] for key in keys})
    return merged


def _mixed(ta: frozenset[str], tb: frozenset[str]) -> set[str]:
    """Integers are numbers: "integer" on one side overlaps "number" on the other."""
    overlap = ("integer" in ta and "number" in tb) or ("integer" in tb and "number" in ta)
    return {"integer"} if overlap else set()
