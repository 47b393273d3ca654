"""The record of one failed attempt, kept with a delivery's retries and dead letters and
with a workflow's failed steps, so a person can see what happened on every try without
re-running anything. Shared by both engines, so neither imports the other's internals."""

from __future__ import annotations

import traceback
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class AttemptError:
    attempt: int
    type: str
    message: str
    traceback: list[str]
    at: float  # epoch seconds when the attempt ended
    duration: float  # seconds the attempt took

    @classmethod
    def from_exception(
        cls, exc: BaseException, attempt: int, at: float, duration: float
    ) -> AttemptError:
        frames = traceback.extract_tb(exc.__traceback__)[-5:]
        return cls(
            attempt=attempt,
            type=f"{type(exc).__module__}.{type(exc).__qualname__}",
            message=(str(exc) or type(exc).__name__)[:500],
            traceback=[f"{f.filename}:{f.lineno} in {f.name}" for f in frames],
            at=at,
            duration=round(duration, 6),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttemptError:
        return cls(**data)
