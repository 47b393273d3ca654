"""``App``: the composition root. It collects integrations, opens the ``Runtime`` and runs
the services of a process role.

An ``App`` is also its own default integration, so a small project declares contracts,
consumers and workflows on it directly; larger ones declare them on ``Integration``s with
owners and ``include`` them. ``async with app.running():`` opens the store, installs the
declared contracts and topics and starts the role's services on the current event loop;
leaving the block stops them. ``artery run|worker|gateway`` do the same until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from artery.clock import Clock
from artery.config import Settings
from artery.contracts import Registry
from artery.delivery.dead_letters import DeadLetters
from artery.delivery.worker import WorkerOptions
from artery.envelope import Event
from artery.errors import ConfigError
from artery.gateway.server import HttpServer, Listen
from artery.health import Health
from artery.integration import Contract, Declarations, Integration, resolve
from artery.log import EventLog
from artery.observe.metrics import Metrics
from artery.observe.tracing import Tracing
from artery.publishing import Publisher, envelope
from artery.roles import Parts, Role, Tuning, assemble, stop_quietly
from artery.runtime import Runtime, Service, install, open_runtime
from artery.store import SqlStore
from artery.workflows import WorkflowHandle, Workflows
from artery.workflows.definition import WorkflowFn, WorkflowOptions


class App(Integration):
    requires_owner = False  # its own declarations form an integration named after it

    def __init__(
        self,
        name: str,
        *,
        store: str | None = None,
        settings: Settings | None = None,
        owner: str | None = None,
        worker: WorkerOptions | None = None,
        workflow: WorkflowOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, owner=owner)
        if settings is None:
            settings = Settings.load(store=store)
        elif store is not None:
            settings = dataclasses.replace(settings, store=store)
        self.settings = settings
        self.health = Health()  # background loops report failures here (/readyz reads it)
        self.integrations: dict[str, Integration] = {name: self}
        self.declared = Declarations(self.integrations)
        self.worker_options = worker or WorkerOptions()
        self.workflow_options = workflow or WorkflowOptions()
        self.clock = clock  # the time services see; None: the system's
        self.tracing: Tracing | None = None  # None: built from settings when started
        self._stack: contextlib.AsyncExitStack | None = None
        self._parts: Parts | None = None

    def include(self, *integrations: Integration) -> None:
        """Add integrations' declarations to the app (made before or after this call)."""
        candidate = dict(self.integrations)
        for integration in integrations:
            known = candidate.get(integration.name)
            if known is not None and known is not integration:
                raise ConfigError(
                    f"two integrations are named {integration.name!r}", fix="rename one"
                )
            candidate[integration.name] = integration
        Declarations(candidate).check()  # refused whole: nothing is included
        self.integrations.clear()
        self.integrations.update(candidate)

    # -- lifecycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(
        self, role: Role | str | None = Role.WORKER, *, listen: Listen | None = None
    ) -> AsyncIterator[App]:
        """Run the app on this event loop in ``role``; ``role=None`` opens it for tools
        (CLI, scripts) without consuming or serving anything."""
        await self.start(role, listen=listen)
        try:
            yield self
        finally:
            await self.stop()

    async def serve(
        self,
        role: Role | str = Role.WORKER,
        *,
        listen: Listen | None = None,
        started: Callable[[App], None] | None = None,
    ) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully (``artery run|worker|gateway``)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with self.running(role, listen=listen):
                if started is not None:
                    started(self)
                await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def start(
        self, role: Role | str | None = Role.WORKER, *, listen: Listen | None = None
    ) -> None:
        if self._stack is not None:
            raise ConfigError(f"app {self.name!r} is already running", fix="start it once")
        chosen = Role.of(role)
        self.declared.check()
        self._stack = stack = contextlib.AsyncExitStack()
        try:
            opening = open_runtime(
                self.settings,
                health=self.health,
                clock=self.clock,
                metrics=self._metrics(),
                tracing=self.tracing or Tracing(self.name, enabled=self.settings.tracing),
            )
            runtime = await stack.enter_async_context(opening)
            await install(runtime, self.declared.contracts.values())
            tuning = Tuning(self.worker_options, self.workflow_options)
            publisher = Publisher(
                runtime.log,
                self.name,
                self.declared.contracts,
                metrics=runtime.metrics if self.settings.metrics else None,
                tracing=runtime.tracing,
            )
            self._parts = assemble(chosen, runtime, self.declared, publisher, tuning, listen)
            for service in self._parts.services:
                stack.push_async_callback(stop_quietly, service)
                await service.start(runtime)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()  # services in reverse order, then the store
        self._parts = None

    def _metrics(self) -> Metrics:
        """This run's metrics; the histogram of sync times gets every SLO's threshold as a
        bucket boundary, so rules can count the events synced in time."""
        slos = self.declared.slos.values()
        return Metrics([s.sync_within for s in slos if s.sync_within is not None])

    # -- runtime -------------------------------------------------------------------------

    def _running(self) -> Parts:
        if self._parts is None:
            raise ConfigError(
                f"app {self.name!r} is not running",
                fix="use `async with app.running():` or `artery run`",
            )
        return self._parts

    @property
    def runtime(self) -> Runtime:
        return self._running().runtime

    @property
    def store(self) -> SqlStore:
        return self.runtime.store

    @property
    def registry(self) -> Registry:
        return self.runtime.registry

    @property
    def log(self) -> EventLog:
        return self.runtime.log

    @property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.runtime.store)

    @property
    def workflows(self) -> Workflows:
        return self._running().runs

    @property
    def services(self) -> tuple[Service, ...]:
        """The services this process's role started, in start order (for inspection)."""
        return () if self._parts is None else tuple(self._parts.services)

    @property
    def http(self) -> HttpServer | None:
        """The HTTP server of this process's role, once started (``http.url``)."""
        return None if self._parts is None else self._parts.http

    async def start_workflow(
        self, workflow: str | WorkflowFn, input: Any = None, *, id: str | None = None
    ) -> WorkflowHandle:
        """Start a run (idempotent per ``id``) and get a handle: ``await handle.result()``."""
        name = workflow if isinstance(workflow, str) else self._workflow_name(workflow)
        return await self.workflows.start(name, input, id=id)

    def _workflow_name(self, fn: WorkflowFn) -> str:
        found = (i.workflow_named(fn) for i in self.integrations.values())
        return next((n for n in found if n), getattr(fn, "__name__", str(fn)))

    def event(self, target: Contract | str, data: Any, **attrs: Any) -> Event:
        """Build the envelope ``publish`` would store (type = contract subject)."""
        return envelope(self.name, resolve(self.declared.contracts, target), data, **attrs)

    async def publish(self, target: Contract | str, data: Any, **attrs: Any) -> Event:
        """Validate and append one event (see ``Publisher.publish``)."""
        return await self._running().publisher.publish(target, data, **attrs)

    async def publish_many(self, target: Contract | str, events: Sequence[Event]) -> list[Event]:
        """Append a batch atomically (see ``Publisher.publish_many``)."""
        return await self._running().publisher.publish_many(target, events)
