"""Keywords compared only for equality: any change in the reader cannot be proven compatible.

``pattern`` and ``format`` (no regular-expression or format inclusion is attempted), the
conditionals, ``unevaluated*``, draft-7 ``dependencies`` and dynamic references.
"""

from __future__ import annotations

from artery.contracts.compatibility.model import Finding, Pair
from artery.contracts.compatibility.schema import accepts_all, canon

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


def text_findings(p: Pair) -> list[Finding]:
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


def opaque_findings(p: Pair) -> list[Finding]:
    found = []
    for keyword, kind in _OPAQUE.items():
        if keyword not in p.r or accepts_all(p.r[keyword]):
            continue
        text = canon(p.r[keyword])
        if keyword in p.w and text == canon(p.w[keyword]) and '"$ref"' not in text:
            continue
        detail = f"{keyword} added or changed; cannot prove it accepts all the writer allows"
        found.append(p.finding(kind, detail, keyword))
    return found
