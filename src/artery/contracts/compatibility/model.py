"""The values of a compatibility check: modes, reported incompatibilities, internal findings.

A `Finding` carries pointers into both documents; `Incompatibility` is what callers see, with
one pointer chosen by direction (always into the new schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from artery.contracts.compatibility.pointers import child

Schema: TypeAlias = bool | Mapping[str, Any]
Obj: TypeAlias = Mapping[str, Any]


class Compatibility(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, text: str) -> Compatibility:
        """``"backward"``, ``"full-transitive"``, ``"FULL_TRANSITIVE"`` ... (case-insensitive)."""
        try:
            return cls(text.strip().upper().replace("-", "_"))
        except ValueError:
            choices = ", ".join(mode.value for mode in cls)
            raise ValueError(
                f"unknown compatibility mode {text!r}; expected one of {choices}"
            ) from None


@dataclass(frozen=True)
class Incompatibility:
    pointer: str
    kind: str
    reason: str
    direction: str
    against_version: int | None = None

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.reason}"


@dataclass(frozen=True)
class Finding:
    reader_ptr: str
    writer_ptr: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Pair:
    """A reader subschema and a writer subschema, with their pointers."""

    r: Obj
    rp: str
    w: Obj
    wp: str

    def finding(self, kind: str, detail: str, *path: str | int) -> Finding:
        return Finding(child(self.rp, *path), child(self.wp, *path), kind, detail)


# Reasons shared by the object and array content-model rules.
ADDED_TO_OPEN = (
    "added with a schema that does not accept every value; "
    "the writer's open content model may already carry it"
)
ADDED = "added; the writer's partially open content model may carry values it rejects"
REMOVED_FROM_CLOSED = "removed from a closed content model; the writer may still send it"
REMOVED = "removed; the reader's remaining content model rejects values the writer may send"
ANY_VALUE = " may send any value"
