"""The admin API of webhook destinations:

* ``GET /admin/destinations``: each one with its state (enabled, failing since, disabled).
* ``GET /admin/destinations/{name}/attempts?outcome=&status=&since=&until=&limit=``:
  its delivery attempts, newest first, filtered by outcome, HTTP status and time.
* ``POST /admin/destinations/{name}/resend`` ``{"event_id": ...}``: send one event again,
  now (never blocked by a dedupe key: a person asked for it).
* ``POST /admin/destinations/{name}/replay`` ``{"since": ISO time, "until": ...}``: send
  again every event of the range (at most ``MAX_REPLAY`` a call; ``next_since`` goes on).
* ``POST /admin/destinations/{name}/disable`` and ``/enable``.
* ``POST /admin/destinations`` ``{"name", "url", "events", "secret", ...}`` (the arguments of
  ``webhook_destination``, the secret by name), ``PUT /admin/destinations/{name}`` and
  ``DELETE`` (``admin:destroy``): destinations made at run time (``webhooks/registry.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped, actor
from artery.clock import iso_us, parse_instant
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import ADMIN_DESTROY, ADMIN_READ, ADMIN_WRITE
from artery.numbers import whole
from artery.observe import interventions
from artery.webhooks.outbound import Outbound, Sent
from artery.webhooks.registry import RunTimeDestinations

MAX_LIMIT = 500
MAX_REPLAY = 1000  # events one replay call sends; "more" and "next_since" say where to go on
_COLUMNS = (
    "event_id, event_type, attempt, trigger, at, outcome, status, latency_us, response, error"
)


def admin_routes(outbound: Outbound, registry: RunTimeDestinations | None = None) -> list[Scoped]:
    async def listed(request: Request) -> JSONResponse:
        found = await outbound.described()
        return JSONResponse({"destinations": found})

    async def attempts(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        limit = _int(request.query_params.get("limit", "100"), "limit", 1, MAX_LIMIT)
        found = await attempts_of(outbound, name, request.query_params, limit)
        return JSONResponse({"destination": name, "attempts": found})

    async def resend(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        event_id = _event_id(await request.body())
        sent = await resent(outbound, name, event_id, actor(request))
        status = 200 if sent.outcome == "delivered" else 502
        return JSONResponse(
            {
                "event_id": event_id,
                "outcome": sent.outcome,
                "status": sent.status,
                "error": sent.error,
            },
            status_code=status,
        )

    async def replay(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        body = _json(await request.body())
        if not isinstance(body, dict) or "since" not in body:
            raise ConfigError(
                "the body names no time range", fix='send {"since": ..., "until": ...}'
            )
        since = time_us(str(body["since"]), "since")
        until = time_us(str(body["until"]), "until") if body.get("until") else None
        return JSONResponse(await replayed(outbound, name, since, until, actor(request)))

    async def disable(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        await outbound.disable(name, "disabled by a person (admin API)")
        return JSONResponse({"destination": name, "enabled": False})

    async def enable(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        await outbound.enable(name)
        return JSONResponse({"destination": name, "enabled": True})

    async def create(request: Request) -> JSONResponse:
        body = _json(await request.body())
        name = body.pop("name", None) if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise ConfigError("the body names no destination", fix='send {"name": ..., ...}')
        made = await _registry().create(name, body)
        return JSONResponse({"destination": made.name, "url": made.url}, status_code=201)

    async def replace(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        made = await _registry().replace(name, _json(await request.body()))
        return JSONResponse({"destination": made.name, "url": made.url})

    async def delete(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        await _registry().delete(name)
        return JSONResponse({"destination": name, "deleted": True})

    def _registry() -> RunTimeDestinations:
        if registry is None:
            raise ConfigError("this process manages no destinations", fix="use artery run")
        return registry

    return [
        Scoped("/destinations", listed, ("GET",), ADMIN_READ),
        Scoped("/destinations", create, ("POST",), ADMIN_WRITE),
        Scoped("/destinations/{name}", replace, ("PUT",), ADMIN_WRITE),
        Scoped("/destinations/{name}", delete, ("DELETE",), ADMIN_DESTROY),
        Scoped("/destinations/{name}/attempts", attempts, ("GET",), ADMIN_READ),
        Scoped("/destinations/{name}/resend", resend, ("POST",), ADMIN_WRITE),
        Scoped("/destinations/{name}/replay", replay, ("POST",), ADMIN_WRITE),
        Scoped("/destinations/{name}/disable", disable, ("POST",), ADMIN_WRITE),
        Scoped("/destinations/{name}/enable", enable, ("POST",), ADMIN_WRITE),
    ]


# -- operations: the admin API's and the console's ------------------------------------------


async def attempts_of(
    outbound: Outbound, name: str, query: Mapping[str, str], limit: int
) -> list[dict[str, Any]]:
    """``name``'s attempts, newest first, filtered by ``outcome``, ``status``, ``since``
    and ``until`` in ``query`` (refused with a fix when one is not usable)."""
    outbound.known(name)
    await outbound.attempts.flush()
    where, params = _filters(name, query)
    sql = (
        f"SELECT {_COLUMNS} FROM webhook_attempts WHERE {' AND '.join(where)}"
        f" ORDER BY at DESC, id DESC LIMIT {max(1, min(int(limit), MAX_LIMIT))}"
    )
    rows = await outbound.runtime.store.read(lambda tx: tx.execute(sql, params))
    return [_attempt(r) for r in rows]


async def attempt_counts(outbound: Outbound, since_us: int) -> dict[str, dict[str, int]]:
    """Per destination, its attempts since ``since_us`` counted by status (the HTTP code,
    else the error's kind or the outcome): one grouped read over the (destination, at)
    index, whatever the number of attempts."""
    names = sorted(outbound.destinations)
    if not names:
        return {}
    await outbound.attempts.flush()
    marks = ", ".join("?" for _ in names)
    sql = (
        "SELECT destination, outcome, status, error, COUNT(*) FROM webhook_attempts"
        f" WHERE destination IN ({marks}) AND at >= ?"
        " GROUP BY destination, outcome, status, error"
    )
    rows = await outbound.runtime.store.read(lambda tx: tx.execute(sql, [*names, since_us]))
    counts: dict[str, dict[str, int]] = {}
    for destination, outcome, status, error, count in rows:
        label = str(int(status)) if status is not None else str(error or outcome)
        found = counts.setdefault(str(destination), {})
        found[label] = found.get(label, 0) + int(count)
    return counts


async def resent(outbound: Outbound, name: str, event_id: str, by: str | None) -> Sent:
    """Send event ``event_id`` to ``name`` again, now, as attempt n+1, and note it as an
    intervention of ``by`` (a person asked: never blocked by a dedupe key)."""
    d = outbound.known(name)
    await outbound.attempts.flush()
    event = await _event(outbound, name, event_id)
    sent = await outbound.send(d, event, await _next_attempt(outbound, name, event_id), "resend")
    await interventions.noted(
        outbound.runtime.store,
        interventions.RESEND,
        integration=d.integration,
        actor=by,
        detail=f"event {event_id!r} to {name!r}: {sent.outcome}",
    )
    return sent


async def replayed(
    outbound: Outbound, name: str, since: int, until: int | None, by: str | None
) -> dict[str, Any]:
    """Send again every event of ``name``'s topics appended in [since, until) (µs), at
    most ``MAX_REPLAY``; noted as an intervention of ``by`` when any was sent."""
    d = outbound.known(name)
    events = await _in_range(outbound, d, since, until)
    outcomes: dict[str, int] = {}
    for event in events[:MAX_REPLAY]:
        sent = await outbound.send(d, event, 0, "replay")
        outcomes[sent.outcome] = outcomes.get(sent.outcome, 0) + 1
    more = len(events) > MAX_REPLAY
    if outcomes:
        await interventions.noted(
            outbound.runtime.store,
            interventions.REPLAY,
            integration=d.integration,
            actor=by,
            detail=f"{sum(outcomes.values())} event(s) to {name!r} from {iso_us(since)}",
        )
    return {
        "destination": name,
        "sent": min(len(events), MAX_REPLAY),
        "outcomes": outcomes,
        "more": more,
        "next_since": events[MAX_REPLAY].time.isoformat() if more else None,
    }


def time_us(text: str, name: str) -> int:
    """An ISO 8601 instant (with its timezone) as stored microseconds."""
    return int(parse_instant(text, name).timestamp() * 1_000_000)


def _filters(name: str, query: Any) -> tuple[list[str], list[Any]]:
    where: list[str] = ["destination = ?"]
    params: list[Any] = [name]
    outcome = query.get("outcome")
    if outcome is not None:
        if outcome not in ("delivered", "failed", "skipped"):
            raise ConfigError(f"outcome={outcome!r}", fix="use delivered, failed or skipped")
        where.append("outcome = ?")
        params.append(outcome)
    if query.get("status") is not None:
        where.append("status = ?")
        params.append(_int(query["status"], "status", 100, 599))
    for key, op in (("since", ">="), ("until", "<")):
        if query.get(key) is not None:
            where.append(f"at {op} ?")
            params.append(time_us(query[key], key))
    return where, params


def _int(text: str, name: str, low: int, high: int) -> int:
    found = whole(text, high)
    if found is None or found < low:
        raise ConfigError(f"{name}={text[:40]!r} is not usable", fix=f"use {low} to {high}")
    return found


async def _in_range(outbound: Outbound, d: Any, since: int, until: int | None) -> list[Any]:
    """The events of ``d``'s topics appended in [since, until), oldest first (at most one
    more than a replay sends, to tell whether there are more)."""
    log = outbound.runtime.log
    start = datetime.fromtimestamp(since / 1e6, UTC)
    end = None if until is None else datetime.fromtimestamp(until / 1e6, UTC)
    found: list[Any] = []
    for topic in outbound.topics_of(d):
        heads = await log.heads(topic)
        for partition, head in heads.items():
            offset = await log.offset_at(topic, partition, start)
            stop = head if end is None else await log.offset_at(topic, partition, end)
            while offset < stop and len(found) <= MAX_REPLAY * 2:
                batch = await log.read(topic, partition, offset, min(500, stop - offset))
                if not batch:
                    break
                found.extend(e for e in batch if d.wants(e.data))
                offset = (batch[-1].offset or offset) + 1
    found.sort(key=lambda e: e.time)
    return found[: MAX_REPLAY + 1]


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ConfigError("the body is not JSON", fix="send the destination as JSON") from None


def _event_id(body: bytes) -> str:
    try:
        found = orjson.loads(body).get("event_id")
    except (orjson.JSONDecodeError, AttributeError):
        found = None
    if not isinstance(found, str) or not found:
        raise ConfigError("the body names no event", fix='send {"event_id": "..."}')
    return found


async def _event(outbound: Outbound, name: str, event_id: str) -> Any:
    """The event an earlier attempt carried, read back from the log."""
    rows = await outbound.runtime.store.read(
        lambda tx: tx.execute(
            "SELECT topic, event_partition, event_offset FROM webhook_attempts"
            " WHERE destination = ? AND event_id = ? AND event_offset >= 0 LIMIT 1",
            (name, event_id),
        )
    )
    if not rows:
        raise NotFound(
            f"destination {name!r} was never sent event {event_id!r}",
            fix="take an event id from GET /admin/destinations/{name}/attempts",
        )
    topic, partition, offset = rows[0]
    found = await outbound.runtime.log.read(topic, int(partition), int(offset), 1)
    if not found or found[0].id != event_id:
        raise NotFound(f"event {event_id!r} is no longer in the log", fix="it was retained away")
    return found[0]


async def _next_attempt(outbound: Outbound, name: str, event_id: str) -> int:
    rows = await outbound.runtime.store.read(
        lambda tx: tx.execute(
            "SELECT MAX(attempt) FROM webhook_attempts WHERE destination = ? AND event_id = ?",
            (name, event_id),
        )
    )
    return int(rows[0][0] or 0) + 1


def _attempt(row: Any) -> dict[str, Any]:
    (
        event_id,
        event_type,
        attempt,
        trigger,
        at,
        outcome,
        status,
        latency_us,
        response,
        error,
    ) = row
    return {
        "event_id": event_id,
        "event_type": event_type,
        "attempt": int(attempt),
        "trigger": trigger,
        "at": iso_us(at),
        "outcome": outcome,
        "status": None if status is None else int(status),
        "latency_ms": round(int(latency_us) / 1000, 3),
        "response": response,
        "error": error,
    }


__all__ = [
    "admin_routes",
    "attempt_counts",
    "attempts_of",
    "replayed",
    "resent",
    "time_us",
]
