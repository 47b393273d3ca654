"""``App``: where a team declares its integration, and the runtime that runs it.

Declarations (contracts now; consumers, workflows, sources and routes as they land) are
plain records collected at import time. ``async with app.running():`` opens the store,
registers declared contracts, creates their topics and starts the background services on
the current event loop; leaving the block stops them cleanly. ``artery run`` does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from artery.config import Settings
from artery.contracts import Compatibility, Registry
from artery.contracts.registry import parse_mode
from artery.delivery.breaker import BreakerPolicy
from artery.delivery.consumer import Consumer, Handler
from artery.delivery.dead_letters import DeadLetters
from artery.delivery.rate_limit import Limit
from artery.delivery.worker import Worker
from artery.durations import seconds
from artery.envelope import Event
from artery.errors import ArteryError, ConfigError, InvalidSchema
from artery.health import Health
from artery.log import EventLog, Retention, StoreLog
from artery.log.retention import RetentionSweeper
from artery.retry import Retry
from artery.store import SqlStore, open_store
from artery.workflows import (
    Schedule,
    Scheduler,
    Workflow,
    WorkflowEngine,
    WorkflowHandle,
    Workflows,
)
from artery.workflows.definition import WorkflowFn
from artery.workflows.schedules import validate as validate_schedule


@dataclass(frozen=True)
class Contract:
    """A declared contract: its subject, schema document and the topic that carries it."""

    subject: str
    schema: Any
    topic: str
    owner: str | None = None
    description: str | None = None
    compatibility: Compatibility | None = None
    examples: tuple[Any, ...] = ()
    partitions: int | None = None
    retention: Retention = field(default_factory=Retention)


class Service(Protocol):
    """Something that runs while the app runs (workers, schedulers, the retention sweeper)."""

    async def start(self, app: App) -> None: ...
    async def stop(self) -> None: ...


class App:
    def __init__(self, name: str, *, store: str | None = None, settings: Settings | None = None):
        self.name = name
        if settings is None:
            settings = Settings.load(store=store)
        elif store is not None:
            settings = dataclasses.replace(settings, store=store)
        self.settings = settings
        self.health = Health()  # background loops report failures here (/readyz reads it)
        self.contracts: dict[str, Contract] = {}
        self.services: list[Service] = [RetentionSweeper()]
        self.consumers: dict[tuple[str, str], Consumer] = {}
        self.worker_options: dict[str, Any] = {}
        self.workflows_declared: dict[str, Workflow] = {}
        self.schedules: list[Schedule] = []
        self.workflow_options: dict[str, Any] = {}
        self._engine: WorkflowEngine | None = None
        self._store: SqlStore | None = None
        self._registry: Registry | None = None
        self._log: EventLog | None = None

    # -- declarations --------------------------------------------------------------------

    def contract(
        self,
        subject: str,
        *,
        schema: str | Path | dict[str, Any] | bool,
        owner: str | None = None,
        description: str | None = None,
        compatibility: str | Compatibility | None = None,
        examples: Sequence[Any] = (),
        topic: str | None = None,
        partitions: int | None = None,
        retention: Retention | None = None,
    ) -> Contract:
        mode = parse_mode(compatibility)
        declared = Contract(
            subject=subject,
            schema=_load_schema(schema),
            topic=topic or subject,
            owner=owner,
            description=description,
            compatibility=mode,
            examples=tuple(examples),
            partitions=partitions,
            retention=retention or Retention(),
        )
        self.contracts[subject] = declared
        return declared

    def consumer(
        self,
        contract: Contract | str,
        *,
        group: str,
        retry: Retry | None = None,
        timeout: float | str | None = "30s",
        concurrency: int = 32,
        ordered: bool = False,
        dedupe: bool = False,
        rate_limit: str | Limit | None = None,
        breaker: str | None = None,
        breaker_policy: BreakerPolicy | None = None,
        start: str = "earliest",
    ) -> Callable[[Handler], Handler]:
        """Register an async ``handler(event, ctx)`` for the contract's topic under ``group``.

        Delivery is at-least-once; pass ``ctx.idempotency_key`` to the partner for
        exactly-once effects, or set ``dedupe=True`` so a completed event is never re-run.
        """
        topic = contract.topic if isinstance(contract, Contract) else _topic_of(self, contract)
        if (group, topic) in self.consumers:
            raise ConfigError(
                f"group {group!r} already has a consumer on {topic!r}",
                fix="give each consumer of a topic its own group",
            )
        if concurrency < 1:
            raise ConfigError(f"concurrency {concurrency}", fix="use 1 or more")
        if start not in ("earliest", "latest"):
            raise ConfigError(f"bad start {start!r}", fix="use 'earliest' or 'latest'")
        limit = Limit.parse(rate_limit) if isinstance(rate_limit, str) else rate_limit

        def register(handler: Handler) -> Handler:
            self.consumers[(group, topic)] = Consumer(
                name=getattr(handler, "__qualname__", repr(handler)),
                topic=topic,
                group=group,
                handler=handler,
                retry=retry or Retry(),
                timeout=None if timeout is None else seconds(timeout),
                concurrency=concurrency,
                ordered=ordered,
                dedupe=dedupe,
                rate_limit=limit,
                breaker=breaker or (limit.name if limit else None),
                breaker_policy=breaker_policy or BreakerPolicy(),
                start=start,
            )
            return handler

        return register

    def workflow(
        self,
        name: str | None = None,
        *,
        on: Contract | str | None = None,
        input: Contract | str | None = None,
    ) -> Callable[[WorkflowFn], WorkflowFn]:
        """Register ``async def fn(ctx, input)`` as a durable workflow.

        With ``on=Contract`` one run starts per event (run id ``NAME:EVENT_ID``, so the same
        event never starts two runs) and its input is the event data."""

        def register(fn: WorkflowFn) -> WorkflowFn:
            declared = name or fn.__name__
            if declared in self.workflows_declared:
                raise ConfigError(f"workflow {declared!r} is declared twice", fix="rename one")
            trigger = on if on is None or isinstance(on, Contract) else self.contracts.get(on)
            subject = input if input is None or isinstance(input, str) else input.subject
            topic = None if on is None else trigger.topic if trigger else _topic_of(self, str(on))
            self.workflows_declared[declared] = Workflow(
                declared, fn, subject or (trigger.subject if trigger else None), topic
            )
            if topic is not None:
                self._start_on_events(declared, topic)
            return fn

        return register

    def _start_on_events(self, workflow: str, topic: str) -> None:
        async def start_run(event: Event, ctx: Any) -> None:
            await self.workflows.start(
                workflow, event.data, id=f"{workflow}:{event.id}", started_by="event"
            )

        start_run.__qualname__ = f"start:{workflow}"
        self.consumer(topic, group=f"workflow.{workflow}")(start_run)

    def schedule(
        self,
        cron: str | None = None,
        *,
        every: float | str | None = None,
        name: str | None = None,
        catch_up: bool = False,
        input: Any = None,
    ) -> Callable[[WorkflowFn], WorkflowFn]:
        """Start a workflow once per tick (cron expression or ``every``) across all workers."""

        def register(fn: WorkflowFn) -> WorkflowFn:
            workflow = next((w.name for w in self.workflows_declared.values() if w.fn is fn), None)
            if workflow is None:
                self.workflow()(fn)
                workflow = fn.__name__
            schedule = Schedule(
                name or workflow,
                workflow,
                cron,
                None if every is None else seconds(every),
                catch_up,
                input,
            )
            validate_schedule(schedule)
            self.schedules.append(schedule)
            return fn

        return register

    @property
    def workflows(self) -> Workflows:
        return Workflows(self, self.store, self._engine)

    async def start_workflow(
        self, workflow: str | WorkflowFn, input: Any = None, *, id: str | None = None
    ) -> WorkflowHandle:
        """Start a run (idempotent per ``id``) and get a handle: ``await handle.result()``."""
        name = (
            workflow
            if isinstance(workflow, str)
            else next(
                (w.name for w in self.workflows_declared.values() if w.fn is workflow),
                getattr(workflow, "__name__", str(workflow)),
            )
        )
        return await self.workflows.start(name, input, id=id)

    # -- lifecycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self, *, workers: bool = True) -> AsyncIterator[App]:
        """Run the app on this event loop; ``workers=False`` opens it for tools (CLI,
        admin) without consuming anything."""
        await self.start(workers=workers)
        try:
            yield self
        finally:
            await self.stop()

    async def serve(self, *, workers: bool = True) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully (``artery worker`` / ``run``)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with self.running(workers=workers):
                await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def start(self, *, workers: bool = True) -> None:
        if self._store is not None:
            raise ConfigError(f"app {self.name!r} is already running", fix="start it once")
        self._store = await open_store(
            self.settings.store, sqlite_synchronous=self.settings.sqlite_synchronous
        )
        self._registry = Registry(self._store)
        self._log = EventLog(
            StoreLog(self._store),
            self._registry,
            dedupe_window=self.settings.dedupe_window,
            max_event_size=self.settings.max_event_size,
        )
        try:
            for declared in self.contracts.values():
                await self._install(declared)
            if workers:
                self._add_runtime_services()
            for service in self.services:
                await service.start(self)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:  # keep stopping the rest; say what failed
                logging.getLogger("artery.app").exception("stopping %r failed", service)
        self.services = [s for s in self.services if not isinstance(s, _RUNTIME)]
        self._engine = None
        if self._store is not None:
            await self._store.close()
        self._store = self._registry = self._log = None

    def _add_runtime_services(self) -> None:
        """Workers, the workflow engine and the scheduler run only in worker processes."""
        if self.workflows_declared:
            self._engine = WorkflowEngine(self.workflows_declared, **self.workflow_options)
            self.services.append(self._engine)
        if self.consumers:
            self.services.append(Worker(list(self.consumers.values()), **self.worker_options))
        if self.schedules:
            self.services.append(Scheduler(self.schedules))

    async def _install(self, declared: Contract) -> None:
        await self.registry.register(
            declared.subject,
            declared.schema,
            owner=declared.owner,
            description=declared.description,
            examples=declared.examples,
            compatibility=declared.compatibility,
        )
        await self.log.create_topic(
            declared.topic,
            declared.subject,
            partitions=(
                self.settings.partitions if declared.partitions is None else declared.partitions
            ),
            retention=declared.retention,
        )

    # -- runtime -------------------------------------------------------------------------

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise _not_running(self.name)
        return self._store

    @property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.store)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise _not_running(self.name)
        return self._registry

    @property
    def log(self) -> EventLog:
        if self._log is None:
            raise _not_running(self.name)
        return self._log

    def event(
        self,
        target: Contract | str,
        data: Any,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        subject: str | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Event:
        """Build the envelope ``publish`` would store (type = contract subject)."""
        contract = target if isinstance(target, Contract) else self.contracts.get(target)
        return Event(
            type=contract.subject if contract else str(target),
            source=f"artery://{self.name}",
            data=data,
            subject=subject,
            partitionkey=key,
            idempotencykey=idempotency_key,
            correlationid=correlation_id,
            traceparent=traceparent,
        )

    async def publish(self, target: Contract | str, data: Any, **attrs: Any) -> Event:
        """Validate and append one event; returns it with its topic, partition and offset.

        With ``idempotency_key``, publishing the same key again within the dedupe window
        returns the event stored the first time instead of storing a second one."""
        topic = target.topic if isinstance(target, Contract) else _topic_of(self, target)
        event = self.event(target, data, **attrs)
        carried = (await self.log.topic(topic)).subject
        if event.type != carried:  # named by its topic: the event follows the topic's contract
            event = dataclasses.replace(event, type=carried)
        (stored,) = await self.log.append(topic, [event])
        return stored

    async def publish_many(self, target: Contract | str, events: Sequence[Event]) -> list[Event]:
        """Append a batch atomically: every event is stored, or (one invalid) none is.

        Each event's ``type`` must be the contract the topic carries (``app.event`` builds
        them so); a mismatch is refused rather than stored under a contract it does not
        claim."""
        topic = target.topic if isinstance(target, Contract) else _topic_of(self, target)
        return await self.log.append(topic, events)


def _topic_of(app: App, name: str) -> str:
    declared = app.contracts.get(name)
    return declared.topic if declared else name


def _not_running(name: str) -> ArteryError:
    return ConfigError(
        f"app {name!r} is not running", fix="use `async with app.running():` or `artery run`"
    )


def _load_schema(schema: str | Path | dict[str, Any] | bool) -> Any:
    if isinstance(schema, dict | bool):
        return schema
    path = Path(schema)
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InvalidSchema(
            f"schema file {str(path.resolve())!r} does not exist",
            fix="give the path relative to the working directory, or the schema as a dict",
        ) from None
    except orjson.JSONDecodeError as exc:
        raise InvalidSchema(f"schema file {str(path)!r} is not JSON: {exc}", fix="fix it") from None


_RUNTIME = (Worker, WorkflowEngine, Scheduler)
