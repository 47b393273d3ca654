"""Workflow and schedule declarations: plain immutable records made at import time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from artery.workflows.context import WorkflowContext

WorkflowFn = Callable[["WorkflowContext", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Workflow:
    name: str
    fn: WorkflowFn
    input_subject: str | None = None  # contract the input must satisfy
    on_topic: str | None = None  # start one run per event of this topic


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
