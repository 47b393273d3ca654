"""``Integration``: a named group of declarations with owners, the unit of ownership.

The playbook's first rule is that every integration has owners: who owns the meaning of the
data, who owns the transport, why it exists and which partners it talks to. Declarations
(contracts, consumers, workflows, schedules; sources, destinations, routes and SLOs as they
land) are made on an integration the way routes are made on Starlette's ``Router`` or a
Flask blueprint, and ``app.include(integration)`` adds them to an app. Everything declared
carries its integration's name, so dead letters, workflow runs, metrics and audit records
can say whose they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from artery.contracts import Compatibility
from artery.contracts.registry import parse_mode
from artery.delivery.breaker import BreakerPolicy
from artery.delivery.consumer import Consumer, DeliveryContext, Handler
from artery.delivery.rate_limit import Limit
from artery.durations import seconds
from artery.envelope import Event
from artery.errors import ConfigError, InvalidSchema
from artery.gateway.policy import DEFAULT_QUOTA, Deprecation, MiB, Policy, Quota
from artery.gateway.route import ApiRoute, Split
from artery.gateway.route import Handler as RouteHandler
from artery.log import Retention
from artery.observe.declare import BusinessCounter, ObserveDeclarations, Slo
from artery.retry import Retry
from artery.webhooks import sources as webhook_sources
from artery.webhooks.declare import WebhookDeclarations
from artery.webhooks.destinations import Destination
from artery.workflows import Schedule, Workflow
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
    integration: str | None = None


def resolve(contracts: Mapping[str, Contract], target: Contract | str) -> Contract | str:
    """The declared contract a subject names, else the name itself (a topic)."""
    return contracts.get(target, target) if isinstance(target, str) else target


def topic_of(target: Contract | str) -> str:
    """The topic of a contract; a name that resolved to none is a topic's own name."""
    return target.topic if isinstance(target, Contract) else target


class Integration(WebhookDeclarations, ObserveDeclarations):
    """Declarations with owners. ``owner`` owns the meaning of the data; ``transport_owner``
    runs the pipes (defaults to ``owner``). An integration without an owner is refused: an
    integration nobody owns is the one that dies quietly."""

    requires_owner = True  # an ``App`` is its own default integration and may have none

    def __init__(
        self,
        name: str,
        *,
        owner: str | None = None,
        transport_owner: str | None = None,
        purpose: str | None = None,
        partners: Sequence[str] = (),
        runbook: str | None = None,
    ) -> None:
        if not name or not name.strip():
            raise ConfigError("an integration needs a name", fix='e.g. Integration("erp-sync")')
        if self.requires_owner and not (owner and owner.strip()):
            raise ConfigError(
                f"integration {name!r} has no owner",
                fix=f'name the team that owns its data: Integration("{name}", owner="team-x")',
            )
        if isinstance(partners, str):
            raise ConfigError(
                f"partners of integration {name!r} must be a list, not one string",
                fix=f'write partners=["{partners}"]',
            )
        if runbook is not None and urlsplit(runbook).scheme not in ("http", "https"):
            raise ConfigError(
                f"runbook of integration {name!r} is not an http(s) link",
                fix='give the page\'s address, e.g. runbook="https://wiki.example.com/erp-sync"',
            )
        self.name = name
        self.owner = owner
        self.transport_owner = transport_owner or owner
        self.purpose = purpose
        self.partners = tuple(partners)
        self.runbook = runbook
        self.contracts: dict[str, Contract] = {}
        self.consumers: dict[tuple[str, str], Consumer] = {}
        self.workflows_declared: dict[str, Workflow] = {}
        self.schedules: list[Schedule] = []
        self.routes: dict[str, ApiRoute] = {}
        self.sources: dict[str, webhook_sources.Source] = {}
        self.destinations: dict[str, Destination] = {}
        self.slo_declared: Slo | None = None
        self.counters: dict[str, BusinessCounter] = {}

    def __repr__(self) -> str:
        return f"Integration({self.name!r}, owner={self.owner!r})"

    # -- contracts -------------------------------------------------------------------------

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
            integration=self.name,
        )
        self.contracts[subject] = declared
        return declared

    def topic_of(self, target: Contract | str) -> str:
        """The topic a contract (or a subject declared here, or a topic name) names."""
        return topic_of(resolve(self.contracts, target))

    # -- consumers -------------------------------------------------------------------------

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
        partner: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register an async ``handler(event, ctx)`` for the contract's topic under ``group``.

        Delivery is at-least-once; pass ``ctx.idempotency_key`` to the partner for
        exactly-once effects, or set ``dedupe=True`` so a completed event is never re-run.
        ``partner`` names whom the handler calls, one of the integration's ``partners``
        (its only one by default), for metrics, records and recovery times.
        """
        topic = self.topic_of(contract)
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
        called = self._partner(partner)

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
                integration=self.name,
                partner=called,
            )
            return handler

        return register

    def _partner(self, partner: str | None) -> str | None:
        if partner is None:
            return self.partners[0] if len(self.partners) == 1 else None
        if self.partners and partner not in self.partners:
            raise ConfigError(
                f"partner {partner!r} is not one of integration {self.name!r}'s partners",
                fix=f"use one of {list(self.partners)}, or add it to partners=[...]",
            )
        return partner

    # -- workflows -------------------------------------------------------------------------

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
            topic = None if on is None else self.topic_of(on)
            self.workflows_declared[declared] = Workflow(
                declared,
                fn,
                subject or (trigger.subject if trigger else None),
                topic,
                integration=self.name,
            )
            if topic is not None:
                self.consumer(topic, group=f"workflow.{declared}")(_starter(declared))
            return fn

        return register

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
            workflow = self.workflow_named(fn)
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

    # -- routes on the front door -----------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        *,
        request: Contract | str | None = None,
        response: Contract | str | None = None,
        scopes: Sequence[str] = (),
        name: str | None = None,
        summary: str | None = None,
        quota: Quota | str | None = DEFAULT_QUOTA,
        max_body: int = MiB,
        timeout: float = 30.0,
        deprecated: Deprecation | None = None,
        upstream: str | None = None,
        split: Split | None = None,
    ) -> Callable[[RouteHandler], RouteHandler]:
        """Serve ``async def handler(call)`` at ``method path``: the body is validated
        against ``request`` (422 problem naming each JSON pointer), the handler gets a
        ``Call`` (``artery.gateway.api``) and answers a JSON value (200) or a ``Reply``;
        the answer is checked against ``response`` in development mode. A POST or PATCH
        with an ``Idempotency-Key`` is answered once. With ``upstream``, the route forwards
        to the legacy system and ``split`` sends part of the traffic to this handler."""
        policy = _policy(scopes, quota, max_body, timeout, deprecated)

        def register(handler: RouteHandler) -> RouteHandler:
            self._add_route(
                ApiRoute(
                    method.upper(),
                    path,
                    name or handler.__name__,
                    policy,
                    handler=handler,
                    request=request,
                    response=response,
                    upstream=upstream,
                    split=split,
                    summary=summary or _first_line(handler.__doc__),
                    integration=self.name,
                )
            )
            return handler

        return register

    def ingest(
        self,
        path: str,
        contract: Contract | str,
        *,
        scopes: Sequence[str],
        method: str = "POST",
        name: str | None = None,
        summary: str | None = None,
        quota: Quota | str | None = DEFAULT_QUOTA,
        max_body: int = MiB,
        timeout: float = 30.0,
        deprecated: Deprecation | None = None,
    ) -> ApiRoute:
        """Accept the body at ``method path``, validate it against ``contract`` and publish
        it as an event; the caller gets 202 with the event's id."""
        subject = contract.subject if isinstance(contract, Contract) else contract
        declared = ApiRoute(
            method.upper(),
            path,
            name or f"ingest_{subject}".replace(".", "_").replace("-", "_"),
            _policy(scopes, quota, max_body, timeout, deprecated),
            request=contract,
            ingest=contract,
            summary=summary or f"Publish a {subject} event",
            integration=self.name,
        )
        self._add_route(declared)
        return declared

    def forward(
        self,
        method: str,
        path: str,
        upstream: str,
        *,
        scopes: Sequence[str],
        name: str | None = None,
        summary: str | None = None,
        quota: Quota | str | None = DEFAULT_QUOTA,
        max_body: int = MiB,
        timeout: float = 30.0,
    ) -> ApiRoute:
        """Forward ``method path`` to the legacy system at ``upstream`` (strangler routing);
        declare a handler for it later with ``route(..., upstream=, split=)``."""
        declared = ApiRoute(
            method.upper(),
            path,
            name or "forward_" + "_".join(p.strip("{}") for p in path.split("/") if p),
            # a legacy system takes what it always took (forms, XML): relay any media type
            dataclasses.replace(_policy(scopes, quota, max_body, timeout, None), json_body=False),
            upstream=upstream,
            summary=summary or f"Forwarded to {upstream}",
            integration=self.name,
        )
        self._add_route(declared)
        return declared

    def _add_route(self, declared: ApiRoute) -> None:
        if declared.key in self.routes:
            raise ConfigError(f"route {declared.key} is declared twice", fix="declare it once")
        self.routes[declared.key] = declared

    def workflow_named(self, fn: WorkflowFn) -> str | None:
        """The name ``fn`` was declared under here, if it was."""
        return next((w.name for w in self.workflows_declared.values() if w.fn is fn), None)


def _starter(workflow: str) -> Handler:
    """The handler of a workflow's trigger consumer: one run per event, idempotently."""

    async def start_run(event: Event, ctx: DeliveryContext) -> None:
        await ctx.start_workflow(
            workflow, event.data, id=f"{workflow}:{event.id}", started_by="event"
        )

    start_run.__qualname__ = f"start:{workflow}"
    return start_run


def _policy(
    scopes: Sequence[str],
    quota: Quota | str | None,
    max_body: int,
    timeout: float,
    deprecated: Deprecation | None,
) -> Policy:
    if isinstance(scopes, str):
        raise ConfigError(f"scopes={scopes!r} is a string, not a list", fix=f'scopes=["{scopes}"]')
    if isinstance(quota, str):
        quota = Quota.parse(quota)
    return Policy(
        tuple(scopes), quota=quota, max_body=max_body, timeout=timeout, deprecation=deprecated
    )


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


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


class Declarations:
    """Everything an app's integrations declare, as one view (read when the app starts, so
    declarations made after ``include`` count too). Names that must be unique across the
    app (a contract subject, a consumer's group on a topic, a workflow) are checked here.

    A consumer or workflow trigger may name a contract by subject that another integration
    declares (erp consumes the orders team's contract): an integration can only resolve
    its own subjects, so the rest are resolved here, app-wide, to the contract's topic."""

    def __init__(self, integrations: dict[str, Integration]) -> None:
        self.integrations = integrations

    @property
    def contracts(self) -> dict[str, Contract]:
        return {s: c for i in self.integrations.values() for s, c in i.contracts.items()}

    @property
    def consumers(self) -> dict[tuple[str, str], Consumer]:
        contracts = self.contracts
        return {
            (c.group, c.topic): c
            for i in self.integrations.values()
            for c in self.consumers_of(i, contracts)
        }

    @property
    def workflows(self) -> dict[str, Workflow]:
        contracts = self.contracts
        return {
            w.name: w for i in self.integrations.values() for w in self.workflows_of(i, contracts)
        }

    @property
    def schedules(self) -> list[Schedule]:
        return [s for i in self.integrations.values() for s in i.schedules]

    @property
    def routes(self) -> dict[str, ApiRoute]:
        return {k: r for i in self.integrations.values() for k, r in i.routes.items()}

    @property
    def sources(self) -> dict[str, webhook_sources.Source]:
        return {n: s for i in self.integrations.values() for n, s in i.sources.items()}

    @property
    def destinations(self) -> dict[str, Destination]:
        return {n: d for i in self.integrations.values() for n, d in i.destinations.items()}

    @property
    def slos(self) -> dict[str, Slo]:
        """Each integration's SLO, by integration name (those that declare one)."""
        return {n: i.slo_declared for n, i in self.integrations.items() if i.slo_declared}

    @property
    def counters(self) -> list[BusinessCounter]:
        return [c for i in self.integrations.values() for c in i.counters.values()]

    def consumers_of(
        self, integration: Integration, contracts: dict[str, Contract] | None = None
    ) -> list[Consumer]:
        """The integration's consumers, each on the topic of the contract it names."""
        contracts = self.contracts if contracts is None else contracts
        found = []
        for consumer in integration.consumers.values():
            topic = topic_of(resolve(contracts, consumer.topic))
            if topic != consumer.topic:
                consumer = dataclasses.replace(consumer, topic=topic)
            found.append(consumer)
        return found

    def workflows_of(
        self, integration: Integration, contracts: dict[str, Contract] | None = None
    ) -> list[Workflow]:
        """The integration's workflows; one started on a subject declared elsewhere gets
        that contract's topic, and its input that contract (unless ``input=`` said)."""
        contracts = self.contracts if contracts is None else contracts
        found = []
        for workflow in integration.workflows_declared.values():
            named = None if workflow.on_topic is None else contracts.get(workflow.on_topic)
            if named is not None:
                workflow = dataclasses.replace(
                    workflow,
                    on_topic=named.topic,
                    input_subject=workflow.input_subject or named.subject,
                )
            found.append(workflow)
        return found

    def check(self) -> None:
        """Refuse a name two integrations both declare, naming both."""
        contracts = self.contracts
        seen: dict[tuple[str, object], tuple[str, object]] = {}
        for integration in self.integrations.values():
            names: list[tuple[tuple[str, object], object]] = [
                *((("contract", s), c) for s, c in integration.contracts.items()),
                *(
                    (("consumer", (c.group, c.topic)), c)
                    for c in self.consumers_of(integration, contracts)
                ),
                *((("workflow", n), w.fn) for n, w in integration.workflows_declared.items()),
                *((("schedule", s.name), s) for s in integration.schedules),
                *((("route", key), r) for key, r in integration.routes.items()),
                *((("route named", r.name), r) for r in integration.routes.values()),
                *((("webhook source", n), w) for n, w in integration.sources.items()),
                *((("webhook destination", n), d) for n, d in integration.destinations.items()),
            ]
            for name, value in names:
                other, first = seen.setdefault(name, (integration.name, value))
                if other != integration.name:
                    fix = "declare it once, in the integration that owns it"
                    if name[0] == "workflow" and first is value:  # one function, scheduled
                        fix = "schedule a workflow on the integration that declares it"
                    raise ConfigError(
                        f"{name[0]} {_shown(name[1])} is declared by both integrations"
                        f" {other!r} and {integration.name!r}",
                        fix=fix,
                    )
        webhook_sources.unique(list(self.sources.values()))


def _shown(name: object) -> str:
    if isinstance(name, tuple):  # a consumer: (group, topic)
        return f"of group {name[0]!r} on {name[1]!r}"
    return repr(name)
