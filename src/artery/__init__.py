"""Artery: an integration runtime for Python teams.

Everything a user writes is importable from here; the modules behind it may change.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

from artery.app import App
from artery.config import Settings
from artery.contracts import Compatibility
from artery.delivery import BreakerPolicy, DeliveryContext, Filter, Limit
from artery.delivery.worker import WorkerOptions
from artery.envelope import Event
from artery.errors import (
    ArteryError,
    Cancelled,
    ConfigError,
    Conflict,
    ContractViolation,
    IncompatibleSchema,
    InvalidEvent,
    InvalidSchema,
    NonDeterminism,
    NotFound,
    SignalTimeout,
    StepFailed,
    StoreUnavailable,
    UnknownContract,
    UnknownTopic,
    UnknownWorkflow,
    WorkflowError,
)
from artery.gateway.api import Call, Reply
from artery.gateway.policy import Deprecation, Quota
from artery.gateway.route import Split
from artery.gateway.server import Listen
from artery.integration import Contract, Integration
from artery.log import Retention
from artery.retry import Permanent, Retry, RetryLater
from artery.roles import Role
from artery.workflows import WorkflowContext, WorkflowHandle, current_step
from artery.workflows.definition import WorkflowOptions

try:
    # From the installed distribution, so a bug report names the release actually running.
    __version__ = _installed_version("artery")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

__all__ = [
    "App",
    "ArteryError",
    "BreakerPolicy",
    "Call",
    "Cancelled",
    "Compatibility",
    "ConfigError",
    "Conflict",
    "Contract",
    "ContractViolation",
    "DeliveryContext",
    "Deprecation",
    "Event",
    "Filter",
    "IncompatibleSchema",
    "Integration",
    "InvalidEvent",
    "InvalidSchema",
    "Limit",
    "Listen",
    "NonDeterminism",
    "NotFound",
    "Permanent",
    "Quota",
    "Reply",
    "Retention",
    "Retry",
    "RetryLater",
    "Role",
    "Settings",
    "SignalTimeout",
    "Split",
    "StepFailed",
    "StoreUnavailable",
    "UnknownContract",
    "UnknownTopic",
    "UnknownWorkflow",
    "WorkerOptions",
    "WorkflowContext",
    "WorkflowError",
    "WorkflowHandle",
    "WorkflowOptions",
    "__version__",
    "current_step",
]
