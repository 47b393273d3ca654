"""Console pages: events. Browse a topic (newest first, or on from an offset), open one
event, follow its trace id and see which consumer groups have processed it.

Listings never show data: id, type, time, key and trace id only. An event's page shows
its envelope with every field its topic's contract classifies ``pii`` or ``secret``
redacted (``govern.topic_redactor``, as a dead letter's detail is); a viewer holding
``console:reveal`` may ask to see them, and each reveal is written to the audit trail
(which fields, never their values) before the values are shown.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from artery.console.web import Console, Page, int_param
from artery.envelope import Event
from artery.errors import ConfigError, NotFound
from artery.gateway.policy import CONSOLE_REVEAL
from artery.govern import Redactor, topic_paths, topic_redactor
from artery.log import EventLog
from artery.log.protocol import Topic
from artery.numbers import whole
from artery.observe.log_context import trace_id_of
from artery.store import LARGEST_INTEGER

LIMIT = 50  # events per page


def pages(console: Console) -> list[Page]:
    events = Events(console)
    one = "/events/{topic}/{partition}/{offset}"
    return [
        Page("/events", events.index),
        Page("/events/{topic}", events.browse),
        Page(one, events.show),
        Page(one + "/reveal", events.reveal, ("POST",), CONSOLE_REVEAL),
    ]


class Events:
    """The pages' endpoints, over the runtime's event log."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.log: EventLog = console.runtime.log

    async def index(self, request: Request) -> Response:
        """Every topic with its partitions' heads and the groups reading it."""
        positions = await self.log.positions()
        topics = []
        for topic in await self.log.topics():
            heads = await self.log.heads(topic.name)
            lag: dict[str, int] = {}
            for p in positions:
                if p.topic == topic.name:
                    lag[p.group] = lag.get(p.group, 0) + p.lag
            topics.append(
                {
                    "topic": topic,
                    "heads": sorted(heads.items()),
                    "appended": sum(heads.values()),
                    "groups": sorted(lag.items()),
                    "integration": self._integration(topic.name),
                }
            )
        return self.console.templates.render(request, "events.html", {"topics": topics})

    async def browse(self, request: Request) -> Response:
        """A page of ``LIMIT`` events: the newest of every partition, or of one partition
        before an offset (newest first) or after one (oldest first)."""
        topic = await self.log.topic(request.path_params["topic"])
        partition = _partition(request, topic)
        after = _offset(request, "after")
        before = _offset(request, "before")
        if partition is None and (after is not None or before is not None):
            raise ConfigError(
                "browsing from an offset needs a partition",
                fix=f"add partition=0 to {topic.partitions - 1} to the query",
            )
        if after is not None and before is not None:
            raise ConfigError("give after= or before=, not both", fix="remove one of them")
        heads = await self.log.heads(topic.name)
        paths = await topic_paths(self.log, topic.name)
        if partition is None:
            found = await self._newest(topic.name, heads)
        elif after is not None:
            found = await self.log.read(topic.name, partition, after + 1, LIMIT)
        else:
            end = heads.get(partition, 0) if before is None else before
            start = max(0, end - LIMIT)
            found = await self.log.read(topic.name, partition, start, max(0, end - start))
            found.reverse()
        context = {
            "topic": topic,
            "partition": partition,
            "after": after,
            "events": [_row(e, paths) for e in found],
            "full": len(found) == LIMIT,
            "heads": sorted(heads.items()),
        }
        return self.console.templates.render(request, "event_list.html", context)

    async def show(self, request: Request) -> Response:
        return await self._page(request, reveal=False)

    async def reveal(self, request: Request) -> Response:
        return await self._page(request, reveal=True)

    async def _page(self, request: Request, *, reveal: bool) -> Response:
        """One event, redacted; revealed (audited first) when asked by a holder of
        ``console:reveal`` (the POST page's scope)."""
        event = await self._event(request)
        assert event.topic is not None and event.offset is not None
        redactor = await topic_redactor(self.log, event.topic, event.data)
        place = {"topic": event.topic, "partition": event.partition, "offset": event.offset}
        envelope, hidden = redactor.envelope({**event.to_cloudevent(), **place})
        revealed = False
        if reveal and hidden:
            await self.console.audit(
                request,
                "reveal",
                target=f"{event.topic}/{event.partition}/{event.offset}",
                integration=self._integration(event.topic),
                detail="fields " + ", ".join(path or "(the whole payload)" for path in hidden),
            )
            envelope = {**event.to_cloudevent(), **place}
            revealed = True
        positions = [
            p
            for p in await self.log.positions()
            if p.topic == event.topic and p.partition == event.partition
        ]
        context = {
            "event": event,
            "envelope": envelope,
            "hidden": hidden,
            "revealed": revealed,
            "unknown_contract": redactor.paths is None,
            "trace_id": trace_id_of(event.traceparent),
            "groups": [(p.group, p.committed, p.committed > event.offset) for p in positions],
            "integration": self._integration(event.topic),
        }
        return self.console.templates.render(request, "event.html", context)

    async def _event(self, request: Request) -> Event:
        topic = await self.log.topic(request.path_params["topic"])
        partition = _whole(request.path_params["partition"], "partition", topic.partitions - 1)
        offset = _whole(request.path_params["offset"], "offset", LARGEST_INTEGER)
        found = await self.log.read(topic.name, partition, offset, 1)
        if not found or found[0].offset != offset:
            raise NotFound(
                f"topic {topic.name!r} holds no event at partition {partition}, offset {offset}",
                fix="it was trimmed by retention or not written yet; browse the topic",
            )
        return found[0]

    async def _newest(self, topic: str, heads: dict[int, int]) -> list[Event]:
        """The newest ``LIMIT`` events over every partition (one read per partition)."""
        found: list[Event] = []
        for partition, head in sorted(heads.items()):
            if head > 0:
                found.extend(await self.log.read(topic, partition, max(0, head - LIMIT), LIMIT))
        found.sort(key=lambda e: (e.time, e.offset or 0), reverse=True)
        return found[:LIMIT]

    def _integration(self, topic: str) -> str | None:
        for contract in self.console.declared.contracts.values():
            if contract.topic == topic:
                return contract.integration
        return None


def _row(event: Event, paths: list[str] | None) -> dict[str, Any]:
    """A listing row: no data, and the key scrubbed of the event's classified values."""
    return {
        "id": event.id,
        "type": event.type,
        "time": event.time.timestamp(),
        "key": Redactor.of(event.data, paths).envelope({"key": event.partitionkey})[0]["key"],
        "trace_id": trace_id_of(event.traceparent),
        "partition": event.partition,
        "offset": event.offset,
    }


def _partition(request: Request, topic: Topic) -> int | None:
    if not request.query_params.get("partition"):
        return None
    return int_param(request, "partition", 0, 0, topic.partitions - 1)


def _offset(request: Request, name: str) -> int | None:
    if not request.query_params.get(name):
        return None
    return int_param(request, name, 0, 0, LARGEST_INTEGER)


def _whole(text: str, name: str, high: int) -> int:
    found = whole(text, high)
    if found is None:
        raise NotFound(
            f"{name} {text[:40]!r} does not exist here",
            fix=f"a {name} is a whole number from 0 to {high}",
        )
    return found
