"""Field classification: which paths of a contract hold personal data or secrets.

A schema marks a field with ``"x-artery-classification": "pii"`` (or ``public``,
``internal``, ``secret``). Paths are JSON pointers over the instance where ``*`` stands
for any array index or any additional property name, e.g. ``/customer/email`` or
``/lines/*/card``. Later layers (redaction, projection, tracing) read these paths; here we
only compute them, following ``$ref``, ``allOf``/``anyOf``/``oneOf``, ``items`` and
``prefixItems``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

KEYWORD = "x-artery-classification"


class Classification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    PII = "pii"
    SECRET = "secret"


SENSITIVE = frozenset({Classification.PII, Classification.SECRET})


def classified_paths(schema: Any) -> dict[str, Classification]:
    """Every classified path of the instance, with its (strictest) classification."""
    found: dict[str, Classification] = {}
    order = list(Classification)
    for path, label in _walk(schema, schema, "", frozenset()):
        previous = found.get(path)
        if previous is None or order.index(label) > order.index(previous):
            found[path] = label
    return dict(sorted(found.items()))


def sensitive_paths(schema: Any) -> dict[str, Classification]:
    """Paths classified ``pii`` or ``secret``: their values never reach logs or errors."""
    return {path: c for path, c in classified_paths(schema).items() if c in SENSITIVE}


def is_sensitive_pointer(pointer: str, sensitive: tuple[str, ...] | list[str]) -> bool:
    """True if ``pointer`` (a concrete instance pointer) is at or under a sensitive path."""
    parts = pointer.split("/")[1:] if pointer else []
    for path in sensitive:
        pattern = path.split("/")[1:] if path else []
        if len(parts) >= len(pattern) and all(
            p == "*" or p == actual for p, actual in zip(pattern, parts, strict=False)
        ):
            return True
    return False


def _walk(
    root: Any, node: Any, path: str, seen: frozenset[str]
) -> Iterator[tuple[str, Classification]]:
    if not isinstance(node, Mapping):
        return
    label = node.get(KEYWORD)
    if label is not None:
        yield path, Classification(label)
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
        yield from _walk(root, _resolve(root, ref), path, seen | {ref})
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, ()):
            yield from _walk(root, sub, path, seen)
    for name, sub in (node.get("properties") or {}).items():
        yield from _walk(root, sub, f"{path}/{name}", seen)
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), Mapping):
            yield from _walk(root, node[key], f"{path}/*", seen)
    for index, sub in enumerate(node.get("prefixItems", ())):
        yield from _walk(root, sub, f"{path}/{index}", seen)


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit():
            node = node[int(token)]
        else:
            return None
    return node
