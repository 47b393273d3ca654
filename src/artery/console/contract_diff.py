"""A readable difference between two versions of a contract: the fields added, removed
and changed (type, required, classification), and what the compatibility check finds.

Fields are the schema's ``properties`` (and ``items``), walked into nested objects and
arrays; what a walk of that shape cannot name (a ``oneOf`` branch, a ``$ref``) still shows
in the compatibility findings and in the side-by-side JSON.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import orjson

from artery.contracts.classification import KEYWORD
from artery.contracts.compatibility import Compatibility, check

MAX_DEPTH = 12


@dataclass(frozen=True)
class FieldChange:
    pointer: str
    change: str  # added, removed, changed
    before: str
    after: str


def fields(schema: Any) -> dict[str, str]:
    """Each field's pointer and a one-line description: type, required, classification."""
    found: dict[str, str] = {}
    _walk(schema, "", True, found, 0)
    return found


def _walk(schema: Any, pointer: str, required: bool, found: dict[str, str], depth: int) -> None:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return
    if pointer:
        found[pointer] = _describe(schema, required)
    needed = set(schema.get("required", ()))
    for name, sub in (schema.get("properties") or {}).items():
        _walk(sub, f"{pointer}/{name}", name in needed, found, depth + 1)
    items = schema.get("items")
    if isinstance(items, dict):
        _walk(items, f"{pointer}/*", True, found, depth + 1)


def _describe(schema: dict[str, Any], required: bool) -> str:
    kind = schema.get("type", "any")
    parts = ["|".join(kind) if isinstance(kind, list) else str(kind)]
    if "enum" in schema:
        parts.append(f"one of {len(schema['enum'])}")
    if "format" in schema:
        parts.append(f"format {schema['format']}")
    parts.append("required" if required else "optional")
    if KEYWORD in schema:
        parts.append(str(schema[KEYWORD]))
    return ", ".join(parts)


def field_changes(old: Any, new: Any) -> list[FieldChange]:
    before, after = fields(old), fields(new)
    changes = []
    for pointer in sorted(before.keys() | after.keys()):
        was, now = before.get(pointer), after.get(pointer)
        if was == now:
            continue
        change = "added" if was is None else "removed" if now is None else "changed"
        changes.append(FieldChange(pointer, change, was or "", now or ""))
    return changes


def findings(mode: Compatibility, old: tuple[int, Any], new: Any) -> list[str]:
    """What the compatibility check says of ``new`` read against ``old`` under ``mode``
    (a contract of mode NONE is checked as FULL here, to say what would break)."""
    chosen = Compatibility.FULL if mode is Compatibility.NONE else mode
    return [str(problem) for problem in check(chosen, new, [old])]


def json_lines(old: Any, new: Any) -> list[tuple[str, str]]:
    """The two schemas as indented JSON, line by line: ``(" ", line)``, ``("+", ...)`` or
    ``("-", ...)``."""
    dump = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    a = orjson.dumps(old, option=dump).decode().splitlines()
    b = orjson.dumps(new, option=dump).decode().splitlines()
    shown = []
    for line in difflib.ndiff(a, b):
        if line.startswith("?"):
            continue
        shown.append((line[0], line[2:]))
    return shown
