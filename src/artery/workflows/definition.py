"""Workflow and schedule declarations: plain immutable records made at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.durations import require_seconds
from artery.errors import ConfigError

if TYPE_CHECKING:
    from artery.workflows.context import WorkflowContext
    from artery.workflows.middleware import StepMiddleware

WorkflowFn = Callable[["WorkflowContext", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Workflow:
    name: str
    fn: WorkflowFn
    input_subject: str | None = None  # contract the input must satisfy
    on_topic: str | None = None  # start one run per event of this topic
    integration: str | None = None  # the integration that declared it


@dataclass(frozen=True)
class Schedule:
    """Start ``workflow`` once per tick, across any number of workers.

    ``cron`` (five fields) or ``every`` (seconds) fixes the ticks; ``catch_up`` decides
    whether ticks missed while everything was down are started (True) or skipped (False,
    only the latest missed tick runs)."""

    name: str
    workflow: str
    cron: str | None = None
    every: float | None = None
    catch_up: bool = False
    input: Any = None


@dataclass(frozen=True)
class WorkflowOptions:
    """Tuning of a process's workflow engine: how many runs execute at once, how long a dead
    worker's runs wait for another (``lease_ttl``, seconds) and how often it looks for runs
    started or woken elsewhere (``poll_interval``, seconds)."""

    concurrency: int = 256
    lease_ttl: float = 10.0
    poll_interval: float = 0.2
    middleware: Sequence[StepMiddleware] = ()  # hooks on every step attempt of every run

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ConfigError(
                f"WorkflowOptions option concurrency={self.concurrency!r} is not a whole number",
                fix="set WorkflowOptions(concurrency=...) to e.g. 64",
            )
        if self.concurrency < 1:
            raise ConfigError(
                f"WorkflowOptions option concurrency={self.concurrency} would run nothing",
                fix="set WorkflowOptions(concurrency=...) to 1 or more",
            )
        for name in ("lease_ttl", "poll_interval"):
            require_seconds("WorkflowOptions", name, getattr(self, name))
