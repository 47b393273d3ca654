"""Keywords compared only for equality: any change in the reader cannot be proven compatible.

``pattern`` and ``format`` (no regular-expression or format inclusion is attempted), the
conditionals, ``unevaluated*``, draft-7 ``dependencies`` and ``$recursiveRef``. Equal text
is equal meaning only without references (their targets may differ), and for
``unevaluated*`` only if every sibling is equal too, since they decide what is evaluated.
Where nothing is applied in place, an equal ``unevaluated*`` on both sides is exactly
``additionalProperties``/``items`` and is compared as such (`plain_unevaluated`).
"""

from __future__ import annotations

from artery.contracts.compatibility.model import Finding, Obj, Pair
from artery.contracts.compatibility.schema import accepts_all, canon, meaning, refers

_CONTEXTUAL = frozenset({"unevaluatedProperties", "unevaluatedItems"})
_CONDITIONAL = ("if", "then", "else")
_OPAQUE = {
    "unevaluatedProperties": "UNEVALUATED_PROPERTIES_NARROWED",
    "unevaluatedItems": "UNEVALUATED_ITEMS_NARROWED",
    "dependencies": "DEPENDENCY_SCHEMA_ADDED",
    "$recursiveRef": "UNRESOLVED_REFERENCE",
}


_IN_PLACE = frozenset(
    "allOf anyOf oneOf not if then else dependentSchemas $ref $dynamicRef $recursiveRef".split()  # noqa: SIM905
)
_UNEVALUATED: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("unevaluatedProperties", "additionalProperties", frozenset[str]()),
    ("unevaluatedItems", "items", frozenset({"contains"})),
)


def plain_unevaluated(r: Obj, w: Obj) -> tuple[Obj, Obj]:
    """Both schemas with an equal ``unevaluated*`` spelled as ``additionalProperties`` or
    ``items``, where that is exact: no subschema applied in place (allOf, $ref, if...)
    evaluates names or items, so the unevaluated ones are those the siblings leave."""
    for keyword, plain, also in _UNEVALUATED:
        if keyword not in r or keyword not in w or canon(r[keyword]) != canon(w[keyword]):
            continue
        if any(_IN_PLACE & s.keys() or also & s.keys() for s in (r, w)):
            continue
        if any(isinstance(s.get("items"), list) for s in (r, w)):
            continue  # draft-7 positional items: left to the conservative rule
        r, w = _spelled(r, keyword, plain), _spelled(w, keyword, plain)
    return r, w


def _spelled(schema: Obj, keyword: str, plain: str) -> Obj:
    out = dict(schema)
    rest = out.pop(keyword)
    out.setdefault(plain, rest)  # with the plain keyword present, nothing is left unevaluated
    return out


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
    found = _conditional(p)
    for keyword, kind in _OPAQUE.items():
        if keyword not in p.r or accepts_all(p.r[keyword]):
            continue
        text = canon(p.r[keyword])
        same = keyword in p.w and text == canon(p.w[keyword]) and not refers(text)
        # what unevaluated* sees depends on every sibling: equal only if all else is
        if same and (keyword not in _CONTEXTUAL or meaning(p.r) == meaning(p.w)):
            continue
        detail = f"{keyword} added or changed; cannot prove it accepts all the writer allows"
        found.append(p.finding(kind, detail, keyword))
    return found


def _conditional(p: Pair) -> list[Finding]:
    """if/then/else act together: `if` picks which branch applies, so the three are equal
    or the change cannot be proven safe (even `if` becoming ``{}`` applies `then` always)."""
    asserting = [k for k in ("then", "else") if k in p.r and not accepts_all(p.r[k])]
    if "if" not in p.r or not asserting:  # nothing is asserted whichever way it goes
        return []
    texts = [canon(p.r.get(k)) for k in _CONDITIONAL]
    if texts == [canon(p.w.get(k)) for k in _CONDITIONAL] and not any(map(refers, texts)):
        return []
    changed = [k for k, t in zip(_CONDITIONAL, texts, strict=True) if t != canon(p.w.get(k))]
    detail = "if/then/else added or changed; cannot prove it accepts all the writer allows"
    return [p.finding("CONDITIONAL_SCHEMA_CHANGED", detail, (changed or ["if"])[0])]
