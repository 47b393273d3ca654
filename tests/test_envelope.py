"""The envelope round-trips through CloudEvents structured and binary modes."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from artery.envelope import Event
from artery.errors import InvalidEvent


def _event() -> Event:
    return Event(
        type="commerce.order.placed",
        source="artery://shop",
        data={"order": "A-1", "total": 12.5},
        time=datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
        subject="A-1",
        partitionkey="customer-7",
        idempotencykey="shop:A-1",
        correlationid="corr-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def test_structured_mode_round_trip_keeps_every_attribute() -> None:
    event = _event()
    again = Event.from_json(event.to_json())
    assert again == event
    assert event.to_cloudevent()["time"] == "2026-01-31T12:00:00Z"
    assert event.to_cloudevent()["specversion"] == "1.0"


def test_stored_form_reads_back_as_the_event_at_its_place_in_the_log() -> None:
    event = _event()
    again = Event.from_stored(event.to_json(), "orders", 3, 41)
    assert again == event.placed("orders", 3, 41)
    assert (again.topic, again.partition, again.offset) == ("orders", 3, 41)


def test_binary_mode_round_trip_uses_ce_headers() -> None:
    event = _event()
    headers, body = event.to_http_binary()
    assert headers["ce-id"] == event.id
    assert headers["ce-partitionkey"] == "customer-7"
    assert headers["content-type"] == "application/json"
    assert Event.from_http_binary({k.upper(): v for k, v in headers.items()}, body) == event


def test_absent_optional_attributes_are_omitted() -> None:
    out = Event(type="t", source="s").to_cloudevent()
    assert "subject" not in out and "data" not in out and "traceparent" not in out


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"id": "1", "source": "s", "type": "t"}, "missing required attribute(s) ['specversion']"),
        ({"id": "1", "source": "s", "type": "t", "specversion": "0.3"}, "unsupported specversion"),
        (
            {"id": "1", "source": "s", "type": "t", "specversion": "1.0", "time": "yesterday"},
            "not an RFC 3339 timestamp",
        ),
        (
            {"id": "1", "source": "s", "type": "t", "specversion": "1.0", "colour": "red"},
            "unknown CloudEvents attribute(s) ['colour']",
        ),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_malformed_cloudevents_are_refused_with_the_reason(obj: object, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        Event.from_cloudevent(obj)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_malformed_json_is_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match="malformed JSON"):
        Event.from_json(b"{not json")


# -- HTTP binary mode against the CloudEvents SDK, over real HTTP ---------------------------

SUBJECT = 'Bestellung "für" Zoë: 100% 🎉'


@pytest.fixture
def echo() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers each POST with the headers and body it
    received, as JSON: what a receiver on the other side of the wire sees."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            reply = orjson.dumps({"headers": dict(self.headers.items()), "body": body.decode()})
            self.send_response(200)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join(timeout=10)


def over_the_wire(url: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    received = httpx.post(url, headers=headers, content=body, timeout=10).json()
    return received["headers"], received["body"].encode()


def test_binary_mode_percent_encodes_header_values_for_a_spec_following_receiver(
    echo: str,
) -> None:
    event = Event(type="shop.order", source="artery://shop 1", data={"n": 1}, subject=SUBJECT)
    headers, body = over_the_wire(echo, *event.to_http_binary())
    assert all(value.isascii() for value in headers.values())
    received = from_binary(HTTPMessage(headers, body), JSONFormat(), CloudEvent)
    assert received.get_subject() == SUBJECT
    assert received.get_source() == "artery://shop 1"
    assert received.get_id() == event.id and received.get_data() == {"n": 1}


def test_binary_mode_percent_decodes_header_values_from_a_spec_following_sender(
    echo: str,
) -> None:
    sent = CloudEvent(
        attributes={"type": "shop.order", "source": "/shop 1", "id": "e-1", "subject": SUBJECT},
        data={"n": 2},
    )
    message = to_binary(sent, JSONFormat())
    headers, body = over_the_wire(echo, message.headers, message.body)
    event = Event.from_http_binary(headers, body)
    assert (event.subject, event.source, event.id) == (SUBJECT, "/shop 1", "e-1")
    assert event.data == {"n": 2}


def test_binary_mode_header_that_is_not_utf8_once_decoded_is_an_invalid_event() -> None:
    headers = {"ce-id": "e-1", "ce-source": "/s", "ce-type": "t", "ce-specversion": "1.0"}
    with pytest.raises(InvalidEvent, match="ce-subject"):
        Event.from_http_binary({**headers, "ce-subject": "%FF%FE"}, b"")
