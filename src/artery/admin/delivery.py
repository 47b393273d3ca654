"""Admin routes for the delivery engine: dead letters, consumers, breakers.

Listings never carry payloads. The one route that shows an event (a dead letter's detail)
redacts every field its contract classifies ``pii`` or ``secret``, so an operator can see
why delivery failed without seeing personal data; ``artery dlq show`` uses the same
``dead_letter_detail``.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from artery.admin.scoped import Scoped, actor
from artery.delivery import retry_schedule
from artery.delivery.breaker import Breakers
from artery.delivery.dead_letters import DeadLetter, DeadLetters, Filter
from artery.envelope import encode_json
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import ADMIN_DESTROY, ADMIN_READ, ADMIN_WRITE
from artery.govern import topic_redactor
from artery.log import EventLog
from artery.numbers import whole
from artery.observe import interventions
from artery.store import LARGEST_INTEGER

if TYPE_CHECKING:
    from artery.integration import Declarations
    from artery.runtime import Runtime

MAX_LIMIT = 1000
_SELECTION = ("ids", "group", "consumer", "integration", "event_type", "error_type")
_TEXT_FILTERS = ("group", "consumer", "integration", "event_type", "error_type")


async def dead_letter_detail(log: EventLog, letter: DeadLetter) -> dict[str, Any]:
    """The summary, every attempt's error and the envelope, redacted by the contract of
    the topic the event was read from (not the ``type`` the producer claimed).

    Classified values of the event are scrubbed out of the stored errors as well; an event
    whose topic or contract is unknown has its whole ``data`` redacted."""
    redactor = await topic_redactor(log, letter.event.topic, letter.event.data)
    envelope = letter.event.to_cloudevent()
    envelope.update(
        topic=letter.event.topic, partition=letter.event.partition, offset=letter.event.offset
    )
    envelope, replaced = redactor.envelope(envelope)
    return {
        **letter.summary(),
        "errors": [redactor.error(error.to_dict()) for error in letter.errors],
        "event": envelope,
        "redacted": replaced,
    }


# -- request parsing -----------------------------------------------------------------------


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ConfigError(f"query parameter {name}={value!r} is not a boolean", fix="use true or false")


def _limit(value: str | None) -> int:
    if value is None:
        return 100
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(
            f"query parameter limit={value!r} is not a whole number from 1 to {MAX_LIMIT}",
            fix=f"use e.g. limit=100 (at most {MAX_LIMIT})",
        )
    return limit


def filter_from_query(request: Request) -> tuple[Filter, int]:
    query = request.query_params
    known = {*_TEXT_FILTERS, "include_redriven", "limit"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ConfigError(
            f"unknown query parameter(s) {', '.join(unknown)}",
            fix=f"use {', '.join(sorted(known))}",
        )
    where = Filter(
        group=query.get("group"),
        consumer=query.get("consumer"),
        integration=query.get("integration"),
        event_type=query.get("event_type"),
        error_type=query.get("error_type"),
        include_redriven=_flag("include_redriven", query.get("include_redriven", "false")),
    )
    return where, _limit(query.get("limit"))


async def json_value(request: Request, empty: Any, fix: str) -> Any:
    """The body as a JSON value (``empty`` if there is none). A value JSON cannot store
    again (nested deeper than 254 levels, say) is refused here rather than failing later,
    half-way through an operation."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"request body is not valid JSON: {exc}", fix=fix) from None
    encode_json(body, "request body")
    return body


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    body = await json_value(request, {}, "send a JSON object")
    if not isinstance(body, dict):
        raise ConfigError(
            f"request body is a JSON {type(body).__name__}, not an object",
            fix='send an object such as {"group": "erp-sync"}',
        )
    return body


def filter_from_body(body: Mapping[str, Any], extra: Collection[str] = ()) -> Filter:
    """A selection from a redrive/purge body; unknown fields and wrong types are refused
    rather than ignored, so a typo cannot widen or empty a selection."""
    allowed = (*_SELECTION, *extra)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)} in the request body",
            fix=f"use {', '.join(allowed)}",
        )
    ids = body.get("ids") or []
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= LARGEST_INTEGER for i in ids
    ):
        raise ConfigError(
            f"field ids must be a list of whole numbers from 0 to {LARGEST_INTEGER}",
            fix='e.g. "ids": [1, 2]',
        )
    text: dict[str, Any] = {}  # each a str or None, checked here
    for name in _TEXT_FILTERS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"field {name} must be a string", fix=f'e.g. "{name}": "..."')
        text[name] = value
    include_redriven = body.get("include_redriven", False)
    if not isinstance(include_redriven, bool):
        raise ConfigError("field include_redriven must be true or false", fix="use a boolean")
    return Filter(ids=tuple(ids), include_redriven=include_redriven, **text)


def _integration_query(request: Request) -> str | None:
    """The depth route's one filter. Other query parameters stay ignored, as they always
    were, so a dashboard that polls depth with extra parameters keeps working."""
    return request.query_params.get("integration") or None


def dead_letter_id(text: str) -> int:
    found = whole(text)
    if found is None:
        raise NotFound(
            f"dead letter {text[:40]!r} does not exist",
            fix="ids are whole numbers; list them first",
        )
    return found


# -- routes --------------------------------------------------------------------------------


def routes(runtime: Runtime, declarations: Declarations) -> list[Scoped]:
    """The delivery routes, relative to the admin mount (``/admin``)."""
    letters = DeadLetters(runtime.store)

    async def list_dead_letters(request: Request) -> JSONResponse:
        where, limit = filter_from_query(request)
        found = await letters.list(where, limit)
        return JSONResponse([letter.summary() for letter in found])

    async def depth(request: Request) -> JSONResponse:
        found = await letters.depth(Filter(integration=_integration_query(request)))
        return JSONResponse(
            [
                {"group": group, "consumer": consumer, "depth": count}
                for (group, consumer), count in sorted(found.items())
            ]
        )

    async def show(request: Request) -> JSONResponse:
        letter = await letters.get(dead_letter_id(request.path_params["id"]))
        return JSONResponse(await dead_letter_detail(runtime.log, letter))

    async def redrive(request: Request) -> JSONResponse:
        where = filter_from_body(await json_object(request))
        count = await letters.redrive(where, record=interventions.redriven(actor(request)))
        return JSONResponse({"redriven": count})

    async def purge(request: Request) -> JSONResponse:
        body = await json_object(request)
        confirm = body.pop("confirm", False)
        if not isinstance(confirm, bool):
            raise ConfigError("field confirm must be true or false", fix='send "confirm": true')
        where = filter_from_body(body, extra=("include_redriven",))
        return JSONResponse({"purged": await letters.purge(where, confirm=confirm)})

    async def consumers(request: Request) -> JSONResponse:
        return JSONResponse(await consumer_report(runtime, declarations))

    async def breakers(request: Request) -> JSONResponse:
        return JSONResponse(await Breakers(runtime.store, "admin").states())

    return [
        Scoped("/dead-letters", list_dead_letters, ("GET",), ADMIN_READ),
        Scoped("/dead-letters/depth", depth, ("GET",), ADMIN_READ),
        Scoped("/dead-letters/redrive", redrive, ("POST",), ADMIN_WRITE),
        Scoped("/dead-letters/purge", purge, ("POST",), ADMIN_DESTROY),
        Scoped("/dead-letters/{id}", show, ("GET",), ADMIN_READ),
        Scoped("/consumers", consumers, ("GET",), ADMIN_READ),
        Scoped("/breakers", breakers, ("GET",), ADMIN_READ),
    ]


async def consumer_report(runtime: Runtime, declarations: Declarations) -> list[dict[str, Any]]:
    """Every consumer the app declares, with lag per partition, pending retries and open
    dead letters. ``pending_retries`` counts the whole group (the retry schedule is
    counted per group)."""
    depth = await DeadLetters(runtime.store).depth()
    positions = await runtime.log.positions()
    report = []
    for (group, topic), consumer in sorted(declarations.consumers.items()):
        mine = [p for p in positions if p.group == group and p.topic == topic]
        pending = await runtime.store.read(functools.partial(retry_schedule.count, group=group))
        report.append(
            {
                "group": group,
                "topic": topic,
                "name": consumer.name,
                "lag": sum(p.lag for p in mine),
                "partitions": [
                    {
                        "partition": p.partition,
                        "committed": p.committed,
                        "next": p.next,
                        "lag": p.lag,
                    }
                    for p in mine
                ],
                "pending_retries": pending,
                "dead_letters": depth.get((group, consumer.name), 0),
            }
        )
    return report
