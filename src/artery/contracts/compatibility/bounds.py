"""Numeric bounds, ``multipleOf``, and the length/count limits of strings, arrays and objects.

Each reader bound must hold for every value within the writer's range; a bound the writer
does not have is an addition (``MINIMUM_ADDED``, ``MAX_LENGTH_ADDED``, ...).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from artery.contracts.compatibility.model import Finding, Obj, Pair
from artery.contracts.compatibility.schema import number

_BOUNDS = (
    ("minimum", True, False),
    ("exclusiveMinimum", True, True),
    ("maximum", False, False),
    ("exclusiveMaximum", False, True),
)


def number_findings(p: Pair) -> list[Finding]:
    """minimum/maximum/exclusive*: each reader bound must hold for the writer's range."""
    found = []
    for keyword, lower, exclusive in _BOUNDS:
        limit = number(p.r.get(keyword))
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


def multiple_of_findings(p: Pair, shared: set[str]) -> list[Finding]:
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


def limit_findings(p: Pair, *keywords: str) -> list[Finding]:
    """minLength/maxLength, minItems/maxItems, minProperties/maxProperties, min/maxContains."""
    found = []
    for keyword in keywords:
        limit, written = number(p.r.get(keyword)), number(p.w.get(keyword))
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


def _fraction(value: Any) -> Fraction | None:
    if number(value) is None or value <= 0:
        return None
    try:
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _snake(keyword: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", keyword).upper()


def _writer_bound(w: Obj, lower: bool) -> tuple[float, bool] | None:
    """The writer's tightest lower (or upper) bound as (value, exclusive)."""
    keys = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    bounds = [
        (value, exclusive)
        for key, exclusive in zip(keys, (False, True), strict=True)
        if (value := number(w.get(key))) is not None
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
