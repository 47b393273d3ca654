"""The comparison walk: `check` and `reader_incompatibilities`, and the `Diff` that runs them.

`Diff.compare` settles both sides (bare ``$ref``s, single-branch combinators), guards against
recursion, memoizes, and dispatches a (reader, writer) pair to the rule families: combinator
shapes first, then the keyword rules for the types both sides share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from artery.contracts.compatibility.arrays import array_findings
from artery.contracts.compatibility.bounds import (
    limit_findings,
    multiple_of_findings,
    number_findings,
)
from artery.contracts.compatibility.budget import DEFAULT_BUDGET, Deadline, OutOfTime
from artery.contracts.compatibility.combinators import (
    combinator_findings,
    fits_writer_part,
    product_findings,
)
from artery.contracts.compatibility.model import (
    Compatibility,
    Finding,
    Incompatibility,
    Obj,
    Pair,
    Schema,
)
from artery.contracts.compatibility.objects import object_findings
from artery.contracts.compatibility.opaque import (
    opaque_findings,
    plain_unevaluated,
    text_findings,
)
from artery.contracts.compatibility.pointers import child, label
from artery.contracts.compatibility.refs import REF_KEYS, Recursion, reader_ref_findings, settle
from artery.contracts.compatibility.sameness import Sameness
from artery.contracts.compatibility.schema import (
    SUMS,
    accepts_all,
    meaning,
    members,
    pure_combinator,
)
from artery.contracts.compatibility.types import (
    declared_types,
    enum_findings,
    type_accepts,
    type_findings,
    writer_types,
)
from artery.errors import InvalidSchema


def reader_incompatibilities(
    reader: Schema, writer: Schema, *, budget: float | None = DEFAULT_BUDGET
) -> list[Incompatibility]:
    """Everything that makes `reader` reject data valid under `writer` (direction "backward")."""
    found = _decide(reader, writer, Deadline(budget), None)
    return _finish(_present(f, f.reader_ptr, "backward", None) for f in found)


def check(
    mode: Compatibility,
    new: Schema,
    previous: Sequence[tuple[int, Schema]],
    *,
    budget: float | None = DEFAULT_BUDGET,
) -> list[Incompatibility]:
    """Every incompatibility of `new` against the versions `mode` asks for (oldest first).

    An empty list means compatible. Pointers always point into `new`. A check that cannot
    finish within `budget` seconds (None: no limit) stops there and raises `InvalidSchema`.
    """
    mode = Compatibility.parse(mode)  # also accepts a plain "backward" string
    if mode is Compatibility.NONE or not previous:
        return []
    transitive = mode.value.endswith("_TRANSITIVE")
    backward = mode.value.startswith(("BACKWARD", "FULL"))
    forward = mode.value.startswith(("FORWARD", "FULL"))
    deadline = Deadline(budget)
    out: list[Incompatibility] = []
    for version, old in previous if transitive else previous[-1:]:
        if backward:
            found = _decide(new, old, deadline, version)
            out += (_present(f, f.reader_ptr, "backward", version) for f in found)
        if forward:
            found = _decide(old, new, deadline, version)
            out += (_present(f, f.writer_ptr, "forward", version) for f in found)
    return _finish(out)


def _decide(
    reader: Schema, writer: Schema, deadline: Deadline, version: int | None
) -> list[Finding]:
    """One direction of the check; running out of time or stack is a refusal, not a crash."""
    against = "" if version is None else f" against version {version}"
    try:
        return Diff(reader, writer, deadline=deadline).compare(reader, "", writer, "")
    except OutOfTime:
        raise InvalidSchema(
            f"compatibility{against} could not be decided within the {deadline.budget:g}s"
            " budget (deeply nested or self-referencing combinators)",
            fix="simplify the schema, or register it under a new subject",
        ) from None
    except RecursionError:
        raise InvalidSchema(
            f"compatibility{against} could not be decided: the schemas nest too deeply",
            fix="flatten the schema by moving nested parts under $defs",
        ) from None


def _present(f: Finding, pointer: str, direction: str, version: int | None) -> Incompatibility:
    return Incompatibility(pointer, f.kind, f"{label(pointer)}: {f.detail}", direction, version)


def _rebase(found: list[Finding], r0: str, r1: str, w0: str, w1: str) -> list[Finding]:
    """Findings computed for subschemas at (r0, w0), moved to equal ones at (r1, w1)."""

    def move(pointer: str, old: str, new: str) -> str:
        inside = pointer == old or pointer.startswith(old + "/")
        return new + pointer[len(old) :] if inside else pointer

    return [
        Finding(move(f.reader_ptr, r0, r1), move(f.writer_ptr, w0, w1), f.kind, f.detail)
        for f in found
    ]


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


class Diff:
    """One reader document against one writer document."""

    def __init__(
        self,
        reader_doc: Schema,
        writer_doc: Schema,
        not_depth: int = 0,
        swapped: bool = False,
        deadline: Deadline | None = None,
    ) -> None:
        self.reader_doc, self.writer_doc, self.not_depth = reader_doc, writer_doc, not_depth
        self.swapped, self.rec = swapped, Recursion()
        self.deadline = deadline or Deadline(None)
        # (reader text, writer text) -> (pointers it was computed at, findings)
        self.memo: dict[tuple[str, str], tuple[str, str, list[Finding]]] = {}
        self._texts: dict[int, tuple[Obj, str]] = {}
        self.sameness = Sameness(reader_doc, writer_doc, self._canon)
        self._mirror: Diff | None = None

    @property
    def mirror(self) -> Diff:
        """The same two documents with the roles swapped, sharing the recursion bookkeeping."""
        if self._mirror is None:
            mirror = Diff(
                self.writer_doc, self.reader_doc, self.not_depth, not self.swapped, self.deadline
            )
            mirror.rec, mirror._mirror, self._mirror = self.rec, self, mirror
        return self._mirror

    def under_not(self) -> Diff:
        """A fresh comparison with the roles swapped, one ``not`` deeper (its own bookkeeping)."""
        return Diff(self.writer_doc, self.reader_doc, self.not_depth + 1, deadline=self.deadline)

    def compare(self, r: Schema, rp: str, w: Schema, wp: str) -> list[Finding]:
        """Everything that makes reader subschema `r` reject values of writer subschema `w`."""
        r, rp = settle(r, rp, self.reader_doc)
        w, wp = settle(w, wp, self.writer_doc)
        if w is False or accepts_all(r):
            return []
        if r is False:
            return [Finding(rp, wp, "TYPE_CHANGED", "the reader schema is `false`")]
        if not isinstance(r, Mapping) or not isinstance(w, Mapping):
            return [Finding(rp, wp, "TYPE_CHANGED", "cannot prove compatibility of a non-schema")]
        r, w = plain_unevaluated(r, w)
        self.deadline.check()
        # Subschemas asserting the same met at other locations (inline copies, a writer
        # accepting anything at many absent locations) are one subproblem: its findings are
        # re-based, not redone. Equal text is the same schema if its references agree.
        key = (self._canon(r), "" if accepts_all(w) else self._canon(w))
        if key[0] == key[1] and self.sameness.same(r, rp, w, wp):
            return []
        if key in self.memo:
            at_r, at_w, found = self.memo[key]
            return found if (at_r, at_w) == (rp, wp) else _rebase(found, at_r, rp, at_w, wp)
        loop, rec = (self.swapped, rp, "" if accepts_all(w) else f"#{wp}"), self.rec
        if loop in rec.active:
            rec.hits += 1
            if rec.active[loop] < rec.level:  # recursion into a nested value: assume the pair
                return []
            detail = "cannot prove compatibility of a schema that refers to itself for one value"
            return [Finding(rp, wp, "UNRESOLVED_REFERENCE", detail)]
        rec.active[loop], hits = rec.level, rec.hits
        try:
            found = list(dict.fromkeys(self._pair(Pair(r, rp, w, wp))))
        finally:
            del rec.active[loop]
        if hits == rec.hits:  # results that leaned on a recursion assumption are not reused
            self.memo[key] = (rp, wp, found)
        return found

    def _canon(self, schema: Obj) -> str:
        """What a subschema asserts, as text, computed once per object (kept alive meanwhile)."""
        cached = self._texts.get(id(schema))
        if cached is None:
            cached = self._texts[id(schema)] = (schema, meaning(schema))
        return cached[1]

    def inner(self, r: Schema, rp: str, w: Schema, wp: str) -> list[Finding]:
        """`compare` for a value nested inside the current one (property, item, ...)."""
        self.rec.level += 1
        try:
            return self.compare(r, rp, w, wp)
        finally:
            self.rec.level -= 1

    def each(self, schemas: Iterable[tuple[Schema, str]], w: Schema, wp: str) -> list[Finding]:
        return [f for r, rp in schemas for f in self.compare(r, rp, w, wp)]

    def _pair(self, p: Pair) -> list[Finding]:
        rk, wk = pure_combinator(p.r), pure_combinator(p.w)
        if wk in SUMS and rk not in SUMS:  # every writer branch must be readable
            return [
                f
                for i, branch in enumerate(p.w[wk])
                for f in self.compare(p.r, p.rp, branch, child(p.wp, wk, i))
            ]
        if rk == "allOf" and wk == "allOf":
            return product_findings(self, p)
        if rk == "allOf":  # every reader conjunct must accept the writer
            return self.each(members(p.r, p.rp, "allOf"), p.w, p.wp)
        if wk == "allOf":
            if fits_writer_part(self, p):
                return []
            detail = "cannot prove the reader accepts values satisfying all of the writer's allOf"
            return [Finding(p.rp, child(p.wp, "allOf"), "COMBINED_TYPE_CHANGED", detail)]
        return self._general(p)

    def _general(self, p: Pair) -> list[Finding]:
        found = self._keywords(p) + combinator_findings(self, p)
        if any(key in p.r for key in REF_KEYS):
            found += reader_ref_findings(self, p)
        # the writer is narrower than its own keywords say
        narrower = any(key in p.w for key in (*REF_KEYS, "allOf"))
        return [] if found and narrower and fits_writer_part(self, p) else found

    def _keywords(self, p: Pair) -> list[Finding]:
        rtypes, wtypes = declared_types(p.r), writer_types(p.w)
        shared = {t for t in wtypes if type_accepts(rtypes, t)}
        found = type_findings(p, wtypes) + enum_findings(p, rtypes, wtypes)
        if shared & {"number", "integer"}:
            found += number_findings(p) + multiple_of_findings(p, shared)
        if "string" in shared:
            found += limit_findings(p, "minLength", "maxLength") + text_findings(p)
        if "object" in shared:
            found += object_findings(self, p)
        if "array" in shared:
            found += array_findings(self, p)
        return found + opaque_findings(p)
