"""One trace follows an event from the HTTP request that brought it, through the append,
the consumer that turned it into another event, to the outbound webhook call, checked in
an in-memory exporter; a redriven dead letter starts a trace of its own, linked; no span
holds a classified value."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.requests import Request
from starlette.responses import Response

from artery import App, Integration, Listen, Permanent, Settings
from artery.delivery.consumer import DeliveryContext
from artery.delivery.dead_letters import Filter
from artery.delivery.worker import WorkerOptions
from artery.envelope import Event
from artery.observe.tracing import Tracing
from artery.workflows import WorkflowContext
from support import api_key, bearer, eventually, partner_at

EMAIL = "jane.doe@example.com"
ORDER = {
    "type": "object",
    "properties": {
        "order": {"type": "string"},
        "email": {"type": "string", "x-artery-classification": "pii"},
    },
    "required": ["order"],
}
WRITTEN = {"type": "object", "properties": {"order": {"type": "string"}}}
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass
class Receiver:
    """The partner: a real HTTP server on 127.0.0.1 keeping the headers of each call."""

    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)

    async def answer(self, request: Request) -> Response:
        self.received.append(dict(request.headers))
        return Response(b"{}", 200)


@dataclass
class Traced:
    app: App
    url: str
    spans: InMemorySpanExporter
    receiver: Receiver

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def processed(self, group: str) -> list[ReadableSpan]:
        return [
            s
            for s in self.named("process shop.order")
            if (s.attributes or {}).get("messaging.consumer.group.name") == group
        ]


@pytest.fixture(params=["recorded"])
async def traced(
    request: pytest.FixtureRequest, sqlite_url: str, tmp_path: Path
) -> AsyncIterator[Traced]:
    """The app with spans recorded in memory ("recorded"), or with no collector at all
    ("carried": nothing recorded, the context only travels)."""
    receiver = Receiver()
    async with partner_at(tmp_path, receiver.answer) as receiver.url:
        settings = Settings(
            store=sqlite_url, outbound_allow_http=True, outbound_allowed_hosts=("127.0.0.1",)
        )
        app = App("traced", settings=settings, worker=WorkerOptions(retry_poll=0.05))
        shop = Integration("shop", owner="team-shop", partners=["erp"])
        orders = shop.contract("shop.order", schema=ORDER)
        written = shop.contract("erp.written", schema=WRITTEN)
        shop.ingest("/api/orders", orders, scopes=["orders:write"])

        @shop.consumer(orders, group="erp-writer", retry=None)
        async def write(event: Event, ctx: DeliveryContext) -> None:
            if event.data["order"] == "refused":
                raise Permanent(f"the ERP refused the order of {event.data['email']}")
            await ctx.publish(written, {"order": event.data["order"]})

        async def pack(order: str) -> str:
            return f"packed {order}"

        @shop.workflow(on=orders)
        async def fulfil(ctx: WorkflowContext, order: dict[str, str]) -> str:
            return str(await ctx.step(pack, order["order"], name="pack"))

        shop.webhook_destination(
            "erp-hook", url=receiver.url, events=["erp.written"], secret="erp-hook"
        )
        app.include(shop)
        exporter = InMemorySpanExporter()
        if request.param == "recorded":
            app.tracing = Tracing("traced", processors=[SimpleSpanProcessor(exporter)])
        async with app.running("run", listen=Listen("127.0.0.1", 0)):
            assert app.http is not None
            yield Traced(app, app.http.url, exporter, receiver)


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTERY_SECRET_ERP_HOOK", "whsec_" + "bmV3IHNlY3JldCBvZiAyNCBieXRlcyE=")


async def post_order(traced: Traced, order: str) -> httpx.Response:
    key = await api_key(traced.app, "orders:write")
    async with httpx.AsyncClient(base_url=traced.url, headers=bearer(key)) as http:
        return await http.post(
            "/api/orders",
            json={"order": order, "email": EMAIL},
            headers={"traceparent": CALLER},
        )


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


async def test_one_trace_from_the_request_to_the_partners_call(traced: Traced) -> None:
    answer = await post_order(traced, "o-1")
    assert answer.status_code == 202, answer.text
    await eventually(lambda: bool(traced.receiver.received), "the partner's call")
    await eventually(lambda: bool(traced.named("POST")), "the client span")

    spans = traced.finished()
    trace_id = int(CALLER.split("-")[1], 16)
    chain = [
        traced.named("POST /api/orders")[0],
        traced.named("send shop.order")[0],
        traced.processed("erp-writer")[0],
        traced.named("send erp.written")[0],
        traced.named("process erp.written")[0],
        traced.named("POST")[0],
    ]
    assert chain[0].parent is not None and chain[0].parent.span_id == 0x00F067AA0BA902B7
    for parent, child in itertools.pairwise(chain):
        assert child.context.trace_id == trace_id, child.name
        assert child.parent is not None and child.parent.span_id == parent.context.span_id, (
            f"{child.name} is not a child of {parent.name}"
        )
    kinds = [s.kind.name for s in chain]
    assert kinds == ["SERVER", "PRODUCER", "CONSUMER", "PRODUCER", "CONSUMER", "CLIENT"]
    process = chain[2].attributes or {}
    assert process["messaging.system"] == "artery"
    assert process["messaging.operation.type"] == "process"
    assert process["messaging.destination.name"] == "shop.order"
    assert process["messaging.consumer.group.name"] == "erp-writer"
    assert chain[0].attributes and chain[0].attributes["http.route"] == "/api/orders"
    sent = traced.receiver.received[0]["traceparent"]
    assert sent.split("-")[1] == f"{trace_id:032x}"
    assert sent.split("-")[2] == f"{chain[-1].context.span_id:016x}"  # the client span
    assert EMAIL not in repr([s.to_json() for s in spans])


async def test_a_workflow_started_by_the_event_runs_its_steps_in_the_same_trace(
    traced: Traced,
) -> None:
    await post_order(traced, "o-3")
    await eventually(lambda: bool(traced.named("step pack")), "the workflow's step")
    (step,) = traced.named("step pack")
    (starter,) = traced.processed("workflow.fulfil")
    assert step.context.trace_id == int(CALLER.split("-")[1], 16)
    assert step.parent is not None and step.parent.span_id == starter.context.span_id
    assert (step.attributes or {})["artery.workflow.name"] == "fulfil"


async def test_a_redriven_dead_letter_starts_a_trace_linked_to_the_first(traced: Traced) -> None:
    await post_order(traced, "refused")
    letters = traced.app.dead_letters
    await eventually(lambda: bool(traced.processed("erp-writer")), "the failed delivery")

    async def buried() -> bool:
        return bool(await letters.list(Filter(group="erp-writer")))

    await eventually(buried, "the dead letter")
    first = traced.processed("erp-writer")[0]
    assert first.status.status_code.name == "ERROR"
    assert first.status.description == "Permanent"  # the type, never the message
    assert await letters.redrive(Filter(group="erp-writer")) == 1
    await eventually(lambda: len(traced.processed("erp-writer")) == 2, "the redrive")
    again = traced.processed("erp-writer")[1]
    assert again.context.trace_id != first.context.trace_id
    assert again.parent is None
    assert [link.context.trace_id for link in again.links] == [first.context.trace_id]
    assert (
        EMAIL not in orjson.dumps([orjson.loads(s.to_json()) for s in traced.finished()]).decode()
    )


@pytest.mark.parametrize("traced", ["carried"], indirect=True)
async def test_without_a_collector_the_callers_trace_still_reaches_the_partner(
    traced: Traced,
) -> None:
    answer = await post_order(traced, "o-2")
    assert answer.status_code == 202, answer.text
    await eventually(lambda: bool(traced.receiver.received), "the partner's call")
    assert traced.finished() == []  # nothing recorded
    sent = traced.receiver.received[0]["traceparent"]
    version, trace_id, span_id, flags = sent.split("-")
    assert trace_id == CALLER.split("-")[1] and flags == "01"
    assert span_id != CALLER.split("-")[2]  # the gateway's hop, not the caller's span
    stored = [e for p in range(8) for e in await traced.app.log.read("shop.order", p, 0, 10)]
    assert [e.traceparent for e in stored] == [f"{version}-{trace_id}-{span_id}-{flags}"]
