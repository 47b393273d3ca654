"""One error tree for everything a user can see.

Every error carries a stable ``code`` (it becomes the problem+json ``type`` suffix and is
what scripts match on), an HTTP status for the gateway, and a CLI exit status. The message
always names the thing that is wrong and the fix, on one line, and never contains payload
values (they may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class ArteryError(Exception):
    """Base of every error Artery raises on purpose."""

    code = "artery.error"
    http_status = 500
    exit_status = 1

    def __init__(
        self, message: str, *, fix: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self.message = message
        self.fix = fix
        self.headers: Mapping[str, str] = headers or {}  # HTTP headers its response carries
        super().__init__(f"{message} ({fix})" if fix else message)


class ConfigError(ArteryError):
    """Settings or arguments that cannot be used as given (bad store URL, bad duration...)."""

    code = "artery.config"
    http_status = 400
    exit_status = 2


class StoreUnavailable(ArteryError):
    """The store cannot be reached; the operation did not happen and may be retried."""

    code = "artery.store-unavailable"
    http_status = 503
    exit_status = 3


class StoreReadOnly(ArteryError):
    """The store can be read but not written (a read-only file, directory or mount)."""

    code = "artery.store-read-only"
    http_status = 503
    exit_status = 2


class NotFound(ArteryError):
    code = "artery.not-found"
    http_status = 404
    exit_status = 2


class UnknownContract(NotFound):
    code = "artery.unknown-contract"


class UnknownTopic(NotFound):
    code = "artery.unknown-topic"


class Conflict(ArteryError):
    code = "artery.conflict"
    http_status = 409
    exit_status = 1


class InvalidSchema(ArteryError):
    """A contract document that is not a usable JSON Schema 2020-12 document."""

    code = "artery.invalid-schema"
    http_status = 422
    exit_status = 2


class InvalidEvent(ArteryError):
    """An event whose envelope is malformed (missing id, bad time, non-JSON data...)."""

    code = "artery.invalid-event"
    http_status = 400
    exit_status = 2


@dataclass(frozen=True)
class Violation:
    """One way an instance fails its schema: where (JSON pointer), which keyword, why."""

    pointer: str
    keyword: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message} [{self.keyword}]"


class ContractViolation(ArteryError):
    """Data that does not satisfy its contract. Lists every violation, not just the first."""

    code = "artery.contract-violation"
    http_status = 422
    exit_status = 1

    def __init__(self, subject: str, version: int, violations: Sequence[Violation]) -> None:
        self.subject = subject
        self.version = version
        self.violations = list(violations)
        listing = "; ".join(str(v) for v in self.violations)
        super().__init__(
            f"data violates contract {subject!r} v{version}: {listing}",
            fix="correct the data, or register a contract version that allows it",
        )


class BatchViolation(ContractViolation):
    """Events of one batch that do not satisfy their contract, each listed by its index in
    the batch, so a producer can fix all of them in one go."""

    def __init__(
        self, subject: str, version: int, failures: Mapping[int, Sequence[Violation]], total: int
    ) -> None:
        self.failures = {index: list(found) for index, found in sorted(failures.items())}
        super().__init__(subject, version, [v for found in self.failures.values() for v in found])
        listing = "; ".join(
            f"event {index}: {v}" for index, found in self.failures.items() for v in found
        )
        self.message = (
            f"{len(self.failures)} of {total} events violate contract {subject!r} v{version};"
            f" none was stored: {listing}"
        )
        self.args = (f"{self.message} ({self.fix})",)


class EventTooLarge(InvalidEvent):
    """An event whose stored form exceeds ``Settings.max_event_size``."""

    code = "artery.event-too-large"
    http_status = 413


class IncompatibleSchema(ArteryError):
    """A new contract version that breaks the subject's compatibility mode."""

    code = "artery.incompatible-schema"
    http_status = 409
    exit_status = 1

    def __init__(self, subject: str, mode: str, problems: Sequence[object]) -> None:
        self.subject = subject
        self.mode = mode
        self.problems = list(problems)
        listing = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"new version of {subject!r} is not {mode} compatible: {listing}",
            fix="make the change compatible, or register it under a new subject",
        )


class UnknownWorkflow(NotFound):
    code = "artery.unknown-workflow"


class WorkflowError(ArteryError):
    """Raised by ``handle.result()`` when a run ended without a result."""

    code = "artery.workflow-failed"
    http_status = 409

    def __init__(self, run_id: str, status: str, error: dict[str, object] | None) -> None:
        self.run_id = run_id
        self.status = status
        self.error = error or {}
        detail = f": {self.error.get('type')}: {self.error.get('message')}" if error else ""
        super().__init__(
            f"workflow run {run_id!r} ended {status}{detail}",
            fix="inspect it with `artery workflows show RUN`; retry it once the cause is fixed",
        )


class NonDeterminism(ArteryError):
    """Replayed workflow code asked for a different step than the history recorded."""

    code = "artery.non-determinism"
    http_status = 409


class SignalTimeout(ArteryError):
    """``ctx.wait_for_signal`` reached its timeout before the signal came."""

    code = "artery.signal-timeout"
    http_status = 408


class StepFailed(ArteryError):
    """A workflow step exhausted its retries (or raised ``Permanent``)."""

    code = "artery.step-failed"

    def __init__(self, name: str, error: dict[str, object]) -> None:
        self.name = name
        self.error = error
        super().__init__(
            f"step {name!r} failed: {error.get('type')}: {error.get('message')}",
            fix="see the run's steps (artery workflows show RUN) and retry the run",
        )


class Cancelled(ArteryError):
    """The run was cancelled by an operator; compensations run next.

    Unlike the signal that parks a run (a ``BaseException``), this is an ordinary error on
    purpose: workflow code may catch it to clean up (log, let go of something held outside
    a step). It cannot refuse the cancel: every later ``ctx`` call raises it again, and a
    run that returns anyway still ends ``cancelled`` once its compensations have run."""

    code = "artery.cancelled"
    http_status = 409


# -- the front door (HTTP) -------------------------------------------------------------------


class Unauthenticated(ArteryError):
    """No credential, or one that is not valid (unknown, expired, revoked, badly signed).
    ``headers`` carry the RFC 6750 ``WWW-Authenticate`` challenge."""

    code = "artery.unauthenticated"
    http_status = 401


class Forbidden(ArteryError):
    """A valid credential without the scope (or host, or origin) the request needs."""

    code = "artery.forbidden"
    http_status = 403


class TooManyRequests(ArteryError):
    """A client spent its rate limit on a route; ``headers`` say when to come back."""

    code = "artery.rate-limited"
    http_status = 429


class PayloadTooLarge(ArteryError):
    """A request body over the route's limit, refused before it was read whole."""

    code = "artery.payload-too-large"
    http_status = 413


class UnsupportedMediaType(ArteryError):
    """A body that is not the media type the route reads (JSON routes refuse text/plain,
    which a cross-site form may send without a preflight)."""

    code = "artery.unsupported-media-type"
    http_status = 415


class GatewayTimeout(ArteryError):
    """A request that did not finish within its route's timeout (or an upstream that did
    not answer in time)."""

    code = "artery.timeout"
    http_status = 504


class BadGateway(ArteryError):
    """An upstream (a legacy system a route forwards to) that could not be reached, or
    answered with something the gateway will not relay."""

    code = "artery.bad-gateway"
    http_status = 502
