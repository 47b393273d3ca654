"""Durable workflows: checkpointed steps, compensations, timers, signals, children,
schedules, and the operations to run them."""

from artery.workflows.context import StepInfo, WorkflowContext, current_step
from artery.workflows.definition import Schedule, Workflow
from artery.workflows.engine import WorkflowEngine
from artery.workflows.history import Run, Status, StepRecord
from artery.workflows.operations import RunDetail, WorkflowHandle, Workflows
from artery.workflows.schedules import Scheduler

__all__ = [
    "Run",
    "RunDetail",
    "Schedule",
    "Scheduler",
    "Status",
    "StepInfo",
    "StepRecord",
    "Workflow",
    "WorkflowContext",
    "WorkflowEngine",
    "WorkflowHandle",
    "Workflows",
    "current_step",
]
