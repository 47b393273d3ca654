"""Sameness: two subschemas that validate exactly alike, whatever their shape.

Equal text is equal meaning only when every reference inside lands on subschemas that are
themselves the same; references are followed in both documents, and a pair met again while
it is being shown the same is assumed so (the largest such relation is the right one, as
for any bisimulation). This settles what the rules cannot: a schema that refers to itself
is compatible with itself, and equal text whose ``$dynamicRef`` target changed is not equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from artery.contracts.compatibility.model import Obj, Schema
from artery.contracts.compatibility.refs import REF_KEYS, resolve
from artery.contracts.compatibility.schema import meaning

_VALUES = frozenset({"enum", "const", "examples", "default"})


class Sameness:
    """`same` for subschemas of one reader and one writer document, with a cache."""

    def __init__(self, reader_doc: Schema, writer_doc: Schema, text: Callable[[Obj], str]):
        self.reader_doc, self.writer_doc, self.text = reader_doc, writer_doc, text
        self.known: dict[tuple[str, str], bool] = {}
        self._equal_docs: bool | None = None

    def equal_documents(self) -> bool:
        """The same document on both sides: a location is the same schema in each."""
        if self._equal_docs is None:
            self._equal_docs = meaning(self.reader_doc) == meaning(self.writer_doc)
        return self._equal_docs

    def same(self, r: Obj, rp: str, w: Obj, wp: str) -> bool:
        if (rp, wp) in self.known:
            return self.known[(rp, wp)]
        if rp == wp and self.equal_documents():
            return True
        visited: set[tuple[str, str]] = set()
        result = self._same(r, rp, w, wp, visited)
        for pair in visited if result else [(rp, wp)]:  # a failure may rest on assumptions
            self.known[pair] = result
        return result

    def _same(self, r: Any, rp: str, w: Any, wp: str, visited: set[tuple[str, str]]) -> bool:
        if (rp, wp) in self.known:
            return self.known[(rp, wp)]
        if (rp, wp) in visited:
            return True
        if isinstance(r, bool) or isinstance(w, bool):
            return r is w
        if not isinstance(r, Mapping) or not isinstance(w, Mapping) or self.text(r) != self.text(w):
            return False
        visited.add((rp, wp))
        for ref in _refs(r):
            rt, wt = resolve(self.reader_doc, ref), resolve(self.writer_doc, ref)
            if rt is None or wt is None:
                return False
            if not self._same(rt[0], rt[1], wt[0], wt[1], visited):
                return False
        return True


def _refs(schema: Any) -> Iterator[Any]:
    """Every reference value inside a subschema (not inside enum, const and the like)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            yield from (node[key] for key in REF_KEYS if key in node)
            stack.extend(v for k, v in node.items() if k not in _VALUES)
