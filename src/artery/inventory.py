"""The integration inventory: who owns each integration, what it reads and writes, which
classified fields it touches and how it fails.

Computed from declarations alone (no store), so ``artery integrations`` works on a laptop
and in CI, and the console's catalog can show the same report. Contracts are "written" by
the integration that declares them (it publishes them; sources will emit them) and "read"
by every integration with a consumer or workflow trigger on their topic.
"""

from __future__ import annotations

from typing import Any

from artery.contracts.classification import sensitive_paths
from artery.delivery.consumer import Consumer
from artery.integration import Contract, Declarations, Integration
from artery.workflows import Schedule, Workflow


def report(declared: Declarations, integration: Integration) -> dict[str, Any]:
    """One integration's inventory entry, as JSON-ready values."""
    by_topic = {c.topic: c for c in declared.contracts.values()}
    consumers = sorted(declared.consumers_of(integration), key=lambda c: (c.group, c.topic))
    read = {c.topic: by_topic.get(c.topic) for c in consumers}
    written = list(integration.contracts.values())
    touched = [*written, *(c for c in read.values() if c is not None and c not in written)]
    return {
        "name": integration.name,
        "owner": integration.owner,
        "transport_owner": integration.transport_owner,
        "purpose": integration.purpose,
        "partners": list(integration.partners),
        "runbook": integration.runbook,
        "writes": [_contract(c) for c in written],
        "reads": [
            _contract(c) if c is not None else {"topic": topic, "subject": None}
            for topic, c in sorted(read.items())
        ],
        "classified_fields": _classified(touched),
        "consumers": [_consumer(c) for c in consumers],
        "workflows": [_workflow(w) for w in declared.workflows_of(integration)],
        "schedules": [_schedule(s) for s in integration.schedules],
    }


def reports(declared: Declarations) -> list[dict[str, Any]]:
    return [report(declared, i) for i in declared.integrations.values()]


def _contract(contract: Contract) -> dict[str, Any]:
    return {
        "subject": contract.subject,
        "topic": contract.topic,
        "owner": contract.owner,
        "declared_by": contract.integration,
    }


def _classified(contracts: list[Contract]) -> list[dict[str, str]]:
    return [
        {"subject": c.subject, "pointer": pointer, "classification": label.value}
        for c in contracts
        for pointer, label in sorted(sensitive_paths(c.schema).items())
    ]


def _consumer(consumer: Consumer) -> dict[str, Any]:
    retry = consumer.retry
    return {
        "name": consumer.name,
        "group": consumer.group,
        "topic": consumer.topic,
        "retry": {
            "attempts": retry.attempts,
            "base_s": retry.base,
            "cap_s": retry.cap,
            "jitter": retry.jitter,
        },
        "dead_letter": (
            f"after {retry.attempts} attempt(s), or at once on Permanent;"
            " inspect and redrive with `artery dlq`"
        ),
        "timeout_s": consumer.timeout,
        "ordered": consumer.ordered,
        "dedupe": consumer.dedupe,
        "rate_limit": str(consumer.rate_limit) if consumer.rate_limit else None,
        "breaker": consumer.breaker,
    }


def _workflow(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "input": workflow.input_subject,
        "started_on": workflow.on_topic,
        "on_failure": (
            "a failed step's compensations run in reverse and the run stays visible as"
            " failed or compensated; `artery workflows retry` runs it again"
        ),
    }


def _schedule(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "workflow": schedule.workflow,
        "cron": schedule.cron,
        "every_s": schedule.every,
        "catch_up": schedule.catch_up,
    }
