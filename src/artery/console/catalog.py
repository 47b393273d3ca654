"""Console pages: the catalog, where a team finds the event it needs instead of making
another. Integrations with their owners, purpose, partners and runbook; their contracts
with versions, compatibility mode, a readable diff, examples and classified fields; who
consumes what. Built from the app's declarations and the contract registry, searchable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from artery import inventory
from artery.console import contract_diff
from artery.console.web import Console, Page
from artery.contracts.classification import classified_paths, sensitive_paths
from artery.errors import ConfigError, NotFound
from artery.govern.redaction import redact
from artery.integration import Declarations, Integration
from artery.numbers import whole
from artery.webhooks.destinations import Destination
from artery.webhooks.sources import describe


def pages(console: Console) -> list[Page]:
    async def index(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        found = [
            entry
            for entry in inventory.reports(console.declared)
            if _matches(query, _haystack(console.declared, entry))
        ]
        subjects = await console.runtime.registry.subjects()
        contracts = [
            s for s in subjects if _matches(query, _contract_haystack(console.declared, s.name))
        ]
        context = {"q": query, "integrations": found, "contracts": contracts}
        return console.templates.render(request, "catalog.html", context)

    async def integration(request: Request) -> Response:
        found = _integration(console.declared, request.path_params["name"])
        context = {
            "entry": inventory.report(console.declared, found),
            "sources": [describe(s) for s in found.sources.values()],
            "destinations": [_destination(d) for d in found.destinations.values()],
            "slo": found.slo_declared,
        }
        return console.templates.render(request, "integration.html", context)

    async def contract(request: Request) -> Response:
        registry = console.runtime.registry
        subject = await registry.subject(request.path_params["subject"])
        versions = await registry.versions(subject.name)
        numbers = [v.version for v in versions]
        new = _version(request, "to", numbers, numbers[-1])
        old = _version(request, "from", numbers, numbers[-2] if len(numbers) > 1 else new)
        by_number = {v.version: v for v in versions}
        before, after = by_number[old], by_number[new]
        declared = console.declared.contracts.get(subject.name)
        context = {
            "subject": subject,
            "versions": versions,
            "old": old,
            "new": new,
            "changes": contract_diff.field_changes(before.schema, after.schema),
            "findings": contract_diff.findings(
                subject.compatibility, (old, before.schema), after.schema
            )
            if old != new
            else [],
            "lines": contract_diff.json_lines(before.schema, after.schema) if old != new else [],
            "latest": after,
            "classified": sorted(classified_paths(after.schema).items()),
            "examples": _examples(
                after.schema, after.examples or (declared.examples if declared else ())
            ),
            "declared": declared,
            "readers": _readers(console.declared, declared.topic if declared else None),
        }
        return console.templates.render(request, "contract.html", context)

    return [
        Page("/catalog", index),
        Page("/catalog/integrations/{name}", integration),
        Page("/catalog/contracts/{subject}", contract),
    ]


def _matches(query: str, haystack: str) -> bool:
    return not query or all(word in haystack for word in query.lower().split())


def _haystack(declared: Declarations, entry: dict[str, Any]) -> str:
    words: list[str] = [
        entry["name"],
        entry["owner"] or "",
        entry["transport_owner"] or "",
        entry["purpose"] or "",
        *entry["partners"],
        *(c["group"] + " " + c["name"] for c in entry["consumers"]),
        *(w["name"] for w in entry["workflows"]),
    ]
    for side in ("writes", "reads"):
        for contract in entry[side]:
            words.append(contract.get("subject") or contract["topic"])
            if contract.get("subject"):
                words.append(_contract_haystack(declared, contract["subject"]))
    found = declared.integrations.get(entry["name"])
    if found is not None:
        words.extend(found.sources)
        words.extend(found.destinations)
    return " ".join(words).lower()


def _contract_haystack(declared: Declarations, subject: str) -> str:
    contract = declared.contracts.get(subject)
    if contract is None:
        return subject.lower()
    names = contract_diff.fields(contract.schema)
    text = [subject, contract.topic, contract.owner or "", contract.description or "", *names]
    return " ".join(text).lower()


def _integration(declared: Declarations, name: str) -> Integration:
    found = declared.integrations.get(name)
    if found is None:
        known = ", ".join(sorted(declared.integrations)) or "none"
        raise NotFound(f"integration {name!r} is not declared", fix=f"known: {known}")
    return found


def _version(request: Request, name: str, numbers: list[int], default: int) -> int:
    text = request.query_params.get(name)
    if not text:
        return default
    found = whole(text)
    if found is None or found not in numbers:
        shown = ", ".join(map(str, numbers))
        raise ConfigError(
            f"{name}={text[:40]!r} is not a version of this contract", fix=f"use {shown}"
        )
    return found


def _examples(schema: Any, examples: Sequence[Any]) -> list[Any]:
    """Examples with their classified fields redacted: a team may paste a real record."""
    paths = list(sensitive_paths(schema))
    return [redact(example, paths)[0] for example in examples]


def _destination(found: Destination) -> dict[str, Any]:
    return {"name": found.name, "url": found.url, "events": list(found.events)}


def _readers(declared: Declarations, topic: str | None) -> list[dict[str, str]]:
    if topic is None:
        return []
    readers = []
    for integration in declared.integrations.values():
        for consumer in declared.consumers_of(integration):
            if consumer.topic == topic:
                readers.append(
                    {"integration": integration.name, "group": consumer.group, "kind": "consumer"}
                )
        for workflow in declared.workflows_of(integration):
            if workflow.on_topic == topic:
                readers.append(
                    {"integration": integration.name, "group": workflow.name, "kind": "workflow"}
                )
    return readers
