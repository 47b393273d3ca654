"""Array rules: positional items, the items after them, contains, uniqueItems and counts.

Both 2020-12 (``prefixItems`` + ``items``) and draft-7 (array-form ``items`` +
``additionalItems``) layouts are read; positions are compared like properties of a content
model (``ITEM_ADDED_TO_OPEN_CONTENT_MODEL``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
)
from artery.contracts.compatibility.pointers import child
from artery.contracts.compatibility.schema import canon, number, refers

if TYPE_CHECKING:
    from artery.contracts.compatibility.diff import Diff


def array_findings(d: Diff, p: Pair) -> list[Finding]:
    found = _positions(d, p) + _rest_items(d, p) + _contains(d, p)
    short = number(p.w.get("maxItems")) in (0, 1)
    if p.r.get("uniqueItems") is True and p.w.get("uniqueItems") is not True and not short:
        detail = "uniqueItems added; the writer may send arrays with duplicates"
        found.append(p.finding("UNIQUE_ITEMS_ADDED", detail, "uniqueItems"))
    return found + limit_findings(p, "minItems", "maxItems")


def _array_parts(schema: Obj) -> tuple[list[Any], Any, str, str]:
    """(positional schemas, schema of the rest, their keywords); draft-7 array items too."""
    items = schema.get("items")
    if isinstance(items, list):
        return items, schema.get("additionalItems"), "items", "additionalItems"
    return list(schema.get("prefixItems", [])), items, "prefixItems", "items"


def _positions(d: Diff, p: Pair) -> list[Finding]:
    """prefixItems (or draft-7 array-form items), position by position."""
    (rpre, rrest, rpk, rrk), (wpre, wrest, wpk, wrk) = _array_parts(p.r), _array_parts(p.w)
    found: list[Finding] = []
    for i in range(max(len(rpre), len(wpre))):
        in_r, in_w = i < len(rpre), i < len(wpre)
        rs, rsp = (rpre[i], child(p.rp, rpk, i)) if in_r else (rrest, child(p.rp, rrk))
        ws, wsp = (wpre[i], child(p.wp, wpk, i)) if in_w else (wrest, child(p.wp, wrk))
        nested = [] if rs is None else d.inner(rs, rsp, True if ws is None else ws, wsp)
        if not nested or (in_r and in_w):
            found += nested
            continue
        if in_r and ws is None:
            kind, detail, nested = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", ADDED_TO_OPEN, []
        elif in_r:
            kind, detail = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", ADDED
        elif rs is False:
            kind, detail, nested = (
                "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                REMOVED_FROM_CLOSED,
                [],
            )
        else:
            kind, detail = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", REMOVED
        at = Finding(child(p.rp, rpk, i), child(p.wp, wpk, i), kind, f"item {i} {detail}")
        found += [at, *nested]
    return found


def _rest_items(d: Diff, p: Pair) -> list[Finding]:
    """Items after every positional schema: ``items`` (2020-12) or ``additionalItems``."""
    (_, rrest, _, rrk), (_, wrest, _, wrk) = _array_parts(p.r), _array_parts(p.w)
    if rrest is None:
        return []
    at, wat = child(p.rp, rrk), child(p.wp, wrk)
    nested = d.inner(rrest, at, True if wrest is None else wrest, wat)
    if not nested or wrest is not None:
        return nested
    if rrest is False:
        detail = "array closed to further items; the writer may send longer arrays"
        return [Finding(at, wat, "ADDITIONAL_ITEMS_REMOVED", detail)]
    detail = "items constrained; the writer's open arrays" + ANY_VALUE
    return [Finding(at, wat, "ADDITIONAL_ITEMS_NARROWED", detail)]


def _contains(d: Diff, p: Pair) -> list[Finding]:
    if "contains" not in p.r:
        return []
    if "contains" not in p.w:
        detail = "contains added; the writer's arrays need not hold a matching item"
        return [p.finding("CONTAINS_ADDED", detail, "contains")]
    at, wat = child(p.rp, "contains"), child(p.wp, "contains")
    found = d.inner(p.r["contains"], at, p.w["contains"], wat)
    counts = Pair(
        {"minContains": p.r.get("minContains", 1)},
        p.rp,
        {"minContains": p.w.get("minContains", 1)},
        p.wp,
    )
    found += limit_findings(counts, "minContains")
    same = canon(p.r["contains"]) == canon(p.w["contains"])
    if "maxContains" in p.r and not (same and not refers(canon(p.r["contains"]))):
        detail = "maxContains with a changed contains schema; cannot prove the count holds"
        return [*found, p.finding("MAX_CONTAINS_ADDED", detail, "maxContains")]
    return found + limit_findings(p, "maxContains")
