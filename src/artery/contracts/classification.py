"""Field classification: which locations of a contract's instances hold personal data or secrets.

A schema marks a field with ``"x-artery-classification": "pii"`` (or ``public``,
``internal``, ``secret``). Locations are JSON pointers over the instance, escaped as in a
violation's pointer (``/a~1b`` for a property named ``a/b``), where ``*`` stands for any
array index or any property name, e.g. ``/customer/email`` or ``/lines/*/card``.

The classifier follows every keyword that applies a subschema to the instance (properties,
patterns, additional and unevaluated properties and items, ``contains``, dependent schemas,
conditionals, combinators, ``$ref`` to pointers and anchors, ``$dynamicRef`` to every
matching dynamic anchor). Where it cannot follow, it does not guess: the whole subtree is
taken as classified, with the reason (`ClassifiedPath.assumed`), so nothing sensitive is
ever shown because the schema was shaped in a way it did not expect.

Later layers read the result: ``govern.redaction`` replaces classified values wherever a
payload is shown, and validation never quotes a value that is, or contains, one.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

import orjson

KEYWORD = "x-artery-classification"
MAX_STEPS = 50_000  # subschema visits before the classifier stops and assumes everything
_TOO_MANY = "the schema applies too many subschemas to follow"


class Classification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    PII = "pii"
    SECRET = "secret"


SENSITIVE = frozenset({Classification.PII, Classification.SECRET})
_ORDER = list(Classification)


@dataclass(frozen=True)
class ClassifiedPath:
    """One classified location; `assumed` says why a whole subtree is taken as classified."""

    pointer: str
    label: Classification
    assumed: str | None = None


def classify(schema: Any) -> list[ClassifiedPath]:
    """Every classified location of the instance (strictest label per pointer), sorted.

    Computed once per distinct schema (readers ask on every request that shows data)."""
    try:
        text = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # too deep or not JSON: no cache, the walk copes
        return list(_classify(schema))
    return list(_classify_text(text))


@functools.lru_cache(maxsize=256)
def _classify_text(text: bytes) -> tuple[ClassifiedPath, ...]:
    return _classify(orjson.loads(text))


def _classify(schema: Any) -> tuple[ClassifiedPath, ...]:
    found: dict[str, ClassifiedPath] = {}
    for item in _Walk(schema).run():
        if item.assumed == _TOO_MANY:  # the walk gave up: everything is classified
            return (item,)
        previous = found.get(item.pointer)
        if previous is None or _ORDER.index(item.label) > _ORDER.index(previous.label):
            found[item.pointer] = item
    return tuple(found[pointer] for pointer in sorted(found))


def classified_paths(schema: Any) -> dict[str, Classification]:
    """Every classified location with its (strictest) classification."""
    return {item.pointer: item.label for item in classify(schema)}


def sensitive_paths(schema: Any) -> dict[str, Classification]:
    """Locations classified ``pii`` or ``secret``: their values never reach logs or errors."""
    return {path: c for path, c in classified_paths(schema).items() if c in SENSITIVE}


def is_sensitive_pointer(pointer: str, sensitive: Collection[str]) -> bool:
    """True if ``pointer`` (a concrete instance pointer) is at or under a sensitive path."""
    parts = _tokens(pointer)
    return any(_covers(_tokens(path), parts) for path in sensitive)


def holds_sensitive(pointer: str, sensitive: Collection[str]) -> bool:
    """True if the value at ``pointer`` is, is inside, or contains a sensitive value."""
    parts = _tokens(pointer)
    return any(
        _covers(pattern, parts) or _leads_to(parts, pattern) for pattern in map(_tokens, sensitive)
    )


def _tokens(pointer: str) -> list[str]:
    return pointer.split("/")[1:] if pointer else []


def _covers(pattern: list[str], parts: list[str]) -> bool:
    """Is the location `parts` at or under the (wildcard) location `pattern`?"""
    if len(parts) < len(pattern):
        return False
    return all(p == "*" or p == actual for p, actual in zip(pattern, parts, strict=False))


def _leads_to(parts: list[str], pattern: list[str]) -> bool:
    """Does the (wildcard) location `pattern` lie under the concrete location `parts`?"""
    if len(pattern) < len(parts):
        return False
    return all(p == "*" or p == actual for actual, p in zip(parts, pattern, strict=False))


def escape(token: str) -> str:
    """A property name as a JSON pointer token (``a/b`` is ``a~1b``), as classified paths are."""
    return token.replace("~", "~0").replace("/", "~1")


# keywords whose subschemas apply to the same instance location, or to any child of it
_SAME_LISTS = ("allOf", "anyOf", "oneOf")
_SAME_ONE = ("not", "if", "then", "else")
_ANY_ONE = (
    "additionalProperties",
    "unevaluatedProperties",
    "contains",
    "unevaluatedItems",
    "additionalItems",
)


@dataclass(frozen=True)
class _Visit:
    node: Any
    resource: Any  # the schema resource (root or nearest ``$id``) that local refs resolve in
    pointer: str  # instance location
    entered: tuple[tuple[int, str], ...]  # ref targets on the way here, with their locations
    reason: str | None = None


class _Walk:
    """A bounded walk over every subschema that applies to some instance location."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.steps = 0

    def run(self) -> Iterator[ClassifiedPath]:
        stack = [_Visit(self.root, self.root, "", ())]
        while stack:
            self.steps += 1
            if self.steps > MAX_STEPS:
                yield ClassifiedPath("", Classification.SECRET, _TOO_MANY)
                return
            visit = stack.pop()
            node = visit.node
            if not isinstance(node, Mapping):
                continue
            resource = node if "$id" in node else visit.resource
            label = node.get(KEYWORD)
            if label is not None:
                yield ClassifiedPath(visit.pointer, Classification(label), visit.reason)
            for sub, pointer, why in _applied(node, visit.pointer):
                stack.append(_Visit(sub, resource, pointer, visit.entered, why or visit.reason))
            for keyword in ("$ref", "$dynamicRef"):
                if keyword in node:
                    yield from self._follow(keyword, node[keyword], resource, visit, stack)

    def _follow(
        self, keyword: str, ref: Any, resource: Any, visit: _Visit, stack: list[_Visit]
    ) -> Iterator[ClassifiedPath]:
        targets = _targets(keyword, ref, resource, self.root)
        if targets is None:
            reason = f"cannot follow {keyword} {ref!r}"
            yield ClassifiedPath(visit.pointer, Classification.SECRET, reason)
            return
        for target, target_resource in targets:
            earlier = dict(visit.entered).get(id(target))
            if earlier == visit.pointer:
                continue  # the same schema again for the same value: nothing new
            if earlier is not None:  # recursion: the same fields repeat at any depth below
                strictest = _strictest(target, target_resource, self.root)
                if strictest is not None:
                    reason = "recursive schema: its classified fields repeat at any depth"
                    yield ClassifiedPath(visit.pointer, strictest, reason)
                continue
            entered = (*visit.entered, (id(target), visit.pointer))
            stack.append(_Visit(target, target_resource, visit.pointer, entered, visit.reason))


def _applied(node: Mapping[str, Any], at: str) -> Iterator[tuple[Any, str, str | None]]:
    """Subschemas `node` applies, with the instance location each applies to."""
    for key in _SAME_LISTS:
        for sub in _list(node.get(key)):
            yield sub, at, None
    for key in _SAME_ONE:
        if key in node:
            yield node[key], at, None
    for sub in _map(node.get("dependentSchemas")).values():
        yield sub, at, None
    for name, sub in _map(node.get("properties")).items():
        yield sub, f"{at}/{escape(name)}", None
    for sub in _map(node.get("patternProperties")).values():
        yield sub, f"{at}/*", None
    for key in _ANY_ONE:
        if key in node:
            yield node[key], f"{at}/*", None
    items = node.get("items")
    if isinstance(items, list):  # draft-7 positional items
        for index, sub in enumerate(items):
            yield sub, f"{at}/{index}", None
    elif items is not None:
        yield items, f"{at}/*", None
    for index, sub in enumerate(_list(node.get("prefixItems"))):
        yield sub, f"{at}/{index}", None
    if "propertyNames" in node:  # classified names: the object itself is classified
        yield node["propertyNames"], at, "its property names are classified"


def _strictest(node: Any, resource: Any, root: Any) -> Classification | None:
    """The strictest label anywhere reachable from `node` (refs followed), or None."""
    best: Classification | None = None
    seen: set[int] = set()
    stack = [(node, resource)]
    while stack:
        current, res = stack.pop()
        if not isinstance(current, Mapping) or id(current) in seen:
            continue
        seen.add(id(current))
        res = current if "$id" in current else res
        if (label := current.get(KEYWORD)) is not None:
            best = max(best or Classification(label), Classification(label), key=_ORDER.index)
        for sub, _, _ in _applied(current, ""):
            stack.append((sub, res))
        for keyword in ("$ref", "$dynamicRef"):
            if keyword in current:
                targets = _targets(keyword, current[keyword], res, root)
                if targets is None:
                    return Classification.SECRET
                stack.extend(targets)
    return best


def _targets(keyword: str, ref: Any, resource: Any, root: Any) -> list[tuple[Any, Any]] | None:
    """The subschemas a local reference may land on, with their resources; None if unknown."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment.startswith("/") or not fragment:
        node: Any = resource
        for token in fragment.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return None
        return [(node, node if isinstance(node, Mapping) and "$id" in node else resource)]
    static = [(n, resource) for n in _anchored(resource, fragment, ("$anchor", "$dynamicAnchor"))]
    if keyword == "$dynamicRef":  # the dynamic scope may pick any resource's anchor
        static += [(n, n) for n in _anchored(root, fragment, ("$dynamicAnchor",), every=True)]
    return static or None


def _anchored(resource: Any, name: str, keys: tuple[str, ...], every: bool = False) -> list[Any]:
    """Subschemas of `resource` naming anchor `name` (all resources with `every`)."""
    found: list[Any] = []
    stack = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        if node is not resource and "$id" in node and not every:
            continue  # another resource: its anchors are its own
        if any(node.get(key) == name for key in keys):
            found.append(node)
        stack.extend(v for k, v in node.items() if k not in _VALUES)
    return found


_VALUES = frozenset({"enum", "const", "examples", "default"})


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
