"""The envelope round-trips through CloudEvents structured and binary modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
