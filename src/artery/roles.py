"""Process roles: which services a process runs, decided in one place.

``run`` is everything in one process; ``worker`` runs consumers, workflows, schedules and
retention; ``gateway`` serves HTTP alone (several gateways can share one PostgreSQL store).
Like faust's boot strategies, a role is a fixed recipe over the app's declarations and the
opened ``Runtime``; no caller adds or removes services by hand.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from artery.delivery.consumer import Effects
from artery.delivery.worker import Worker, WorkerOptions
from artery.errors import ConfigError
from artery.gateway.front import FrontDoor
from artery.gateway.server import HttpServer, Listen
from artery.integration import Declarations
from artery.log.retention import RetentionSweeper
from artery.observe.beacon import Beacon
from artery.observe.log_context import LogContext
from artery.observe.parts import CounterBinding, observed_worker, records_for
from artery.observe.workflow import StepObserver, StepTracing
from artery.publishing import Publisher
from artery.runtime import Runtime, Service
from artery.webhooks.outbound import Outbound
from artery.webhooks.registry import RunTimeDestinations
from artery.workflows import Scheduler, WorkflowEngine, Workflows
from artery.workflows.definition import WorkflowOptions

log = logging.getLogger("artery.app")


class Role(StrEnum):
    RUN = "run"
    WORKER = "worker"
    GATEWAY = "gateway"

    @classmethod
    def of(cls, role: Role | str | None) -> Role | None:
        if role is None or isinstance(role, Role):
            return role
        try:
            return cls(role)
        except ValueError:
            known = ", ".join(r.value for r in cls)
            raise ConfigError(f"unknown role {role!r}", fix=f"use one of: {known}") from None

    @property
    def works(self) -> bool:
        """Whether the role consumes events and runs workflows."""
        return self in (Role.RUN, Role.WORKER)


@dataclass(frozen=True)
class Tuning:
    """How a process is tuned, beside what it runs."""

    worker: WorkerOptions = field(default_factory=WorkerOptions)
    workflow: WorkflowOptions = field(default_factory=WorkflowOptions)

    def __post_init__(self) -> None:
        # Tuning used to be plain dicts (``app.worker_options = {...}``): say so plainly.
        for name, value, kind in (
            ("worker_options", self.worker, WorkerOptions),
            ("workflow_options", self.workflow, WorkflowOptions),
        ):
            if not isinstance(value, kind):
                raise ConfigError(
                    f"app.{name} is a {type(value).__name__}, not {kind.__name__}",
                    fix=f"write app.{name} = {kind.__name__}(...), e.g."
                    f" {kind.__name__}(lease_ttl=10)",
                )


@dataclass
class Parts:
    """What a role built on an opened runtime: its services in start order, the workflow
    operations (bound to this process's engine, if it runs one), the publisher and the
    HTTP server, if it serves one."""

    runtime: Runtime
    publisher: Publisher
    services: list[Service]
    runs: Workflows
    http: HttpServer | None = None


def assemble(
    role: Role | None,
    runtime: Runtime,
    declared: Declarations,
    publisher: Publisher,
    tuning: Tuning,
    listen: Listen | None = None,
) -> Parts:
    """The services of ``role`` (``None``: none, the app is only opened, for tools).
    ``run`` and ``gateway`` serve HTTP on ``listen`` (default 127.0.0.1:8080); a worker
    serves it only when given an address."""
    works = role is not None and role.works
    workflows = declared.workflows
    consumers = list(declared.consumers.values())
    observing = role is not None and runtime.settings.metrics
    steps = tuning.workflow
    added = list(steps.middleware)
    if runtime.settings.tracing:
        added.append(StepTracing(runtime.tracing))
    if observing:
        added.append(StepObserver(runtime.metrics))
    steps = dataclasses.replace(steps, middleware=tuple(added))
    engine = WorkflowEngine(workflows, publisher.publish, steps) if works and workflows else None
    parts = Parts(runtime, publisher, [], Workflows(workflows, runtime, engine))
    outbound = registry = None
    if role is not None:  # webhook destinations: declared in code, or made at run time
        outbound = Outbound(
            list(declared.destinations.values()), declared.contracts, publisher.publish
        )
        registry = RunTimeDestinations(outbound)
        parts.services.append(outbound)  # started before the workers that deliver for it
        if works:
            consumers.extend(outbound.consumers())
    records = records_for(declared) if works and observing else None
    if role is not None:  # every process says which of its loops fail (artery status)
        parts.services.append(Beacon(role.value))
    if observing:
        parts.services.append(CounterBinding(declared.counters))
    if records is not None:
        parts.services.append(records)  # stopped after the workers, so it flushes their last
    if works:
        groups = [(c.group, c.topic, c.start) for c in consumers]
        parts.services.append(RetentionSweeper(groups))
    if role in (Role.RUN, Role.GATEWAY) or (role is Role.WORKER and listen is not None):
        front = FrontDoor(runtime, declared, parts.runs, publisher, outbound, registry)
        parts.services.extend(front.services)
        parts.http = HttpServer(listen or Listen(), front.mounts)
        if observing:
            parts.services.append(front.gauges())
        parts.services.append(parts.http)  # started before, stopped after the workers
    if engine is not None:
        parts.services.append(engine)
    if works:  # even without consumers: destinations made at run time are added to it
        effects = Effects(publisher.publish, parts.runs.start)
        options = observed_worker(
            tuning.worker,
            consumers,
            runtime.metrics if observing else None,
            records,
            runtime.tracing if runtime.settings.tracing else None,
        )
        logged = (LogContext.reading(runtime.log, consumers), *options.middleware)
        options = dataclasses.replace(options, middleware=logged)  # log fields outermost
        worker = Worker(consumers, effects, options)
        parts.services.append(worker)
        if registry is not None:
            registry.worker = worker
    if registry is not None:
        parts.services.append(registry)  # after the worker, whose consumers it adds
    if works and declared.schedules:
        parts.services.append(Scheduler(declared.schedules, parts.runs))
    return parts


async def stop_quietly(service: Service) -> None:
    """Stop one service; a failure is logged and does not keep the others running."""
    try:
        await service.stop()
    except Exception:
        log.exception("stopping %r failed", service)
