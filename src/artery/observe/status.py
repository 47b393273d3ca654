"""What ``artery status`` shows: one entry per integration, read from the store (the same
records every process writes), and the list of what needs a person.

Per integration: events delivered per minute (last 5 minutes and last hour), failed
attempts and dead letters waiting, each consumer group's backlog and the age of its
oldest event, the SLO's budget left and burn alert, silent webhook sources and disabled
destinations. Across the app: event types nobody consumes (published into a topic no
group reads: the way events get lost quietly) and processes whose background loops fail
or that stopped refreshing their beacon.

Something needs a person when: a dead letter waits, a source is silent, a destination is
disabled, an SLO burn alert holds or its budget is spent, a backlog's oldest event is older
than the integration's ``sync_within`` (or an hour without an SLO), an event type has no
consumer, or a process's loops fail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from artery.integration import Declarations
from artery.observe.beacon import STALE_AFTER
from artery.observe.gauges import backlog
from artery.observe.slo import statuses
from artery.runtime import Runtime
from artery.store.protocol import Tx
from artery.webhooks.ledger import Ledger

STALE_BACKLOG = 3600.0  # seconds: an integration without an SLO is behind past this
_MINUTE_US = 60_000_000


@dataclass
class Status:
    integrations: list[dict[str, Any]] = field(default_factory=list)
    unconsumed: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "integrations": self.integrations,
            "unconsumed_event_types": self.unconsumed,
            "processes": self.processes,
            "needs_attention": self.attention,
        }


async def status(runtime: Runtime, declared: Declarations, now: float | None = None) -> Status:
    now = time.time() if now is None else now
    found = Status()
    counts = await runtime.store.read(lambda tx: _counts(tx, now))
    behind = await backlog(runtime)
    slos = {
        s.slo.integration: s for s in await statuses(runtime.store, declared.slos.values(), now)
    }
    ledger = Ledger(list(declared.sources.values()))
    ledger.attach(runtime.store)
    sources = await ledger.status()
    disabled = await runtime.store.read(_disabled)
    groups = {c.group: c for c in declared.consumers.values()}
    for name in sorted(declared.integrations):
        entry = _integration(name, counts.get(name, {}))
        slo = slos.get(name)
        if slo is not None:
            entry["slo"] = slo.describe()
            if slo.alert or slo.budget_remaining <= 0:
                found.attention.append(f"{name}: SLO {slo.alert or 'budget spent'}")
        limit = slo.slo.sync_within if slo is not None and slo.slo.sync_within else STALE_BACKLOG
        entry["backlog"] = []
        for (group, topic), (events, age) in sorted(behind.items()):
            owner = groups.get(group)
            if owner is None or owner.integration != name:
                continue
            entry["backlog"].append(
                {"group": group, "topic": topic, "events": events, "oldest_s": round(age, 1)}
            )
            if age > limit:
                found.attention.append(f"{name}: {group} is {age:.0f} s behind on {topic}")
        entry["silent_sources"] = [
            s["name"] for s in sources if s["integration"] == name and s["silent"]
        ]
        entry["disabled_destinations"] = [d for d in disabled if _owner(declared, d) == name]
        _flag(found, name, entry)
        found.integrations.append(entry)
    for name in disabled:
        if _owner(declared, name) is None:  # made at run time: no integration owns it
            found.attention.append(f"destination {name} is disabled")
    found.unconsumed = await _unconsumed(runtime, declared)
    found.attention.extend(
        f"event type {t} is published; nobody consumes it" for t in found.unconsumed
    )
    found.processes = await runtime.store.read(lambda tx: _processes(tx, now))
    for process in found.processes:
        if process["stale"]:
            found.attention.append(f"process {process['process']} stopped reporting")
        for failing in process["failing"]:
            found.attention.append(f"process {process['process']}: loop {failing['loop']} fails")
    return found


def _owner(declared: Declarations, destination: str) -> str | None:
    found = declared.destinations.get(destination)
    return found.integration if found is not None else None


def _integration(name: str, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "name": name,
        "delivered_per_min_5m": round(counts.get("delivered_5m", 0) / 5, 2),
        "delivered_per_min_1h": round(counts.get("delivered_1h", 0) / 60, 2),
        "failed_attempts_1h": counts.get("failed_1h", 0),
        "dead_letters_waiting": counts.get("dead_waiting", 0),
    }


def _flag(found: Status, name: str, entry: dict[str, Any]) -> None:
    if entry["dead_letters_waiting"]:
        found.attention.append(f"{name}: {entry['dead_letters_waiting']} dead letter(s) wait")
    for source in entry["silent_sources"]:
        found.attention.append(f"{name}: webhook source {source} is silent")
    for destination in entry["disabled_destinations"]:
        found.attention.append(f"{name}: destination {destination} is disabled")


def _counts(tx: Tx, now: float) -> dict[str, dict[str, int]]:
    minute = int(now * 1_000_000) // _MINUTE_US * _MINUTE_US
    found: dict[str, dict[str, int]] = {}
    rows = tx.execute(
        "SELECT integration,"
        " COALESCE(SUM(CASE WHEN minute >= ? THEN delivered ELSE 0 END), 0),"
        " COALESCE(SUM(delivered), 0), COALESCE(SUM(failed), 0)"
        " FROM observe_minutes WHERE minute >= ? GROUP BY integration",
        (minute - 4 * _MINUTE_US, minute - 59 * _MINUTE_US),
    )
    for integration, recent, hour, failed in rows:
        found[integration] = {
            "delivered_5m": int(recent),
            "delivered_1h": int(hour),
            "failed_1h": int(failed),
        }
    waiting = tx.execute(
        "SELECT integration, COUNT(*) FROM dead_letters WHERE redriven_at IS NULL"
        " GROUP BY integration"
    )
    for integration, n in waiting:
        found.setdefault(integration or "none", {})["dead_waiting"] = int(n)
    return found


def _disabled(tx: Tx) -> list[str]:
    rows = tx.execute(
        "SELECT name FROM webhook_destination_state WHERE disabled_at IS NOT NULL ORDER BY name"
    )
    return [str(row[0]) for row in rows]


async def _unconsumed(runtime: Runtime, declared: Declarations) -> list[str]:
    """Topics of declared contracts that events were appended to and that no group reads
    (declared consumers and destinations, and any group that has joined in the store)."""
    read = {c.topic for c in declared.consumers.values()}
    read.update(p.topic for p in await runtime.log.positions())
    heads = {}
    for contract in declared.contracts.values():
        if contract.topic not in read:
            heads[contract.subject] = sum((await runtime.log.heads(contract.topic)).values())
    return sorted(subject for subject, appended in heads.items() if appended)


def _processes(tx: Tx, now: float) -> list[dict[str, Any]]:
    rows = tx.execute(
        "SELECT process, role, host, pid, seen_at, failing_json FROM observe_processes"
        " ORDER BY process"
    )
    return [
        {
            "process": process,
            "role": role,
            "host": host,
            "pid": int(pid),
            "seen_s_ago": round(now - int(seen) / 1e6, 1),
            "stale": now - int(seen) / 1e6 > STALE_AFTER,
            "failing": orjson.loads(failing),
        }
        for process, role, host, pid, seen, failing in rows
    ]


__all__ = ["Status", "status"]
