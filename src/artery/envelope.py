"""The event envelope: one type from source to log to consumer to outbound webhook.

Attributes are CloudEvents 1.0 (``id``, ``source``, ``type``, ``specversion``, ``time``,
``subject``, ``datacontenttype``, ``dataschema``, ``data``) plus the extensions Artery relies
on: ``partitionkey`` (ordering), ``idempotencykey`` (dedupe), ``correlationid`` and
``traceparent`` (tracing across hops). Once an event is stored it also knows its place in
the log (``topic``, ``partition``, ``offset``); those are not CloudEvents attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import orjson

from artery import ids
from artery.errors import InvalidEvent

SPECVERSION = "1.0"
JSON = "application/json"
EXTENSIONS = ("partitionkey", "idempotencykey", "correlationid", "traceparent", "tracestate")
_OPTIONAL = ("subject", "dataschema", *EXTENSIONS)
_REQUIRED = ("id", "source", "type", "specversion")
MAX_DEPTH = 254  # orjson's nesting limit when encoding
# HTTP binding 1.0.2, 3.1.3.2: printable ASCII stays as is, except space, '"' and '%'
_HEADER_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in '"%')


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return ids.uuid4()


@dataclass(frozen=True, slots=True)
class Event:
    """An immutable CloudEvent with Artery's extensions and, once stored, its log position."""

    type: str
    source: str
    data: Any = None
    id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=now)
    subject: str | None = None
    datacontenttype: str = JSON
    dataschema: str | None = None
    specversion: str = SPECVERSION
    partitionkey: str | None = None
    idempotencykey: str | None = None
    correlationid: str | None = None
    traceparent: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    tracestate: str | None = None  # W3C vendor trace data, travels with traceparent

    def placed(self, topic: str, partition: int, offset: int) -> Event:
        # Positional construction: 3x cheaper than dataclasses.replace on the append path.
        return Event(
            self.type,
            self.source,
            self.data,
            self.id,
            self.time,
            self.subject,
            self.datacontenttype,
            self.dataschema,
            self.specversion,
            self.partitionkey,
            self.idempotencykey,
            self.correlationid,
            self.traceparent,
            topic,
            partition,
            offset,
            self.tracestate,
        )

    def to_cloudevent(self) -> dict[str, Any]:
        """Structured-mode CloudEvents JSON object (absent optional attributes omitted)."""
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": _format_time(self.time),
            "datacontenttype": self.datacontenttype,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.data is not None:
            out["data"] = self.data
        return out

    def to_json(self, what: str = "event") -> bytes:
        """Structured-mode JSON: also the form the log and the delivery tables store, so
        an event reads back as it was written. ``what`` names it in a refusal."""
        return encode_json(self.to_cloudevent(), what)

    @classmethod
    def from_stored(cls, body: bytes, topic: str, partition: int, offset: int) -> Event:
        """Rebuild an event stored by ``to_json`` at its place in the log. It is not
        checked again (it was checked before it was stored): this is the read hot path."""
        attrs = orjson.loads(body)
        attrs["time"] = parse_time(attrs["time"])
        return cls(**attrs, topic=topic, partition=int(partition), offset=int(offset))

    @classmethod
    def from_cloudevent(cls, obj: Mapping[str, Any]) -> Event:
        """Parse a structured-mode CloudEvent; unknown extensions are refused, not dropped."""
        if not isinstance(obj, Mapping):
            raise InvalidEvent(
                "a CloudEvent must be a JSON object", fix="send {'specversion': '1.0', ...}"
            )
        _check_required(obj)
        unknown = set(obj) - {*_REQUIRED, *_OPTIONAL, "time", "datacontenttype", "data"}
        if "data_base64" in unknown:
            raise InvalidEvent(
                "binary data (data_base64) is not supported",
                fix="send JSON data in the 'data' attribute",
            )
        if unknown:
            raise InvalidEvent(
                f"unknown CloudEvents attribute(s) {sorted(unknown)}",
                fix=f"use only the standard attributes and the extensions {list(EXTENSIONS)}",
            )
        return cls(
            id=_text(obj, "id"),
            source=_text(obj, "source"),
            type=_text(obj, "type"),
            specversion=_text(obj, "specversion"),
            time=parse_time(obj["time"]) if obj.get("time") is not None else now(),
            datacontenttype=obj.get("datacontenttype") or JSON,
            data=obj.get("data"),
            subject=_optional_text(obj, "subject"),
            dataschema=_optional_text(obj, "dataschema"),
            partitionkey=_optional_text(obj, "partitionkey"),
            idempotencykey=_optional_text(obj, "idempotencykey"),
            correlationid=_optional_text(obj, "correlationid"),
            traceparent=_optional_text(obj, "traceparent"),
            tracestate=_optional_text(obj, "tracestate"),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"malformed JSON: {exc}", fix="send a valid JSON object") from None
        return cls.from_cloudevent(obj)

    def to_http_binary(self) -> tuple[dict[str, str], bytes]:
        """Binary content mode: attributes as ``ce-*`` headers, data as the body."""
        headers = {"content-type": self.datacontenttype}
        for name, value in self.to_cloudevent().items():
            if name not in ("data", "datacontenttype"):
                headers[f"ce-{name}"] = quote(str(value), safe=_HEADER_SAFE)
        body = b"" if self.data is None else encode_json(self.data, "event data")
        return headers, body

    @classmethod
    def from_http_binary(cls, headers: Mapping[str, str], body: bytes) -> Event:
        attrs: dict[str, Any] = {
            key.lower()[3:]: _header_value(key, value)
            for key, value in headers.items()
            if key.lower().startswith("ce-")
        }
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), JSON)
        attrs["datacontenttype"] = content_type.split(";")[0].strip()
        if body:
            if not attrs["datacontenttype"].endswith("json"):
                raise InvalidEvent(
                    f"unsupported content-type {content_type!r}",
                    fix="send the event data as application/json",
                )
            try:
                attrs["data"] = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidEvent(f"malformed JSON body: {exc}", fix="send valid JSON") from None
        return cls.from_cloudevent(attrs)


def encode_json(value: Any, what: str) -> bytes:
    """JSON bytes of ``value``, or ``InvalidEvent`` naming why JSON cannot hold it.

    orjson refuses sets, integers beyond 64 bits and nesting deeper than 254 levels with a
    bare ``TypeError``; callers get the reason and the fix instead. The reason names types,
    never values, so personal data cannot leak into the message."""
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        reason = str(exc)
        if "recursion" in reason.lower():
            reason = f"nested deeper than {MAX_DEPTH} levels"
        raise InvalidEvent(
            f"{what} cannot be encoded as JSON: {reason}",
            fix="send JSON values only (objects with text keys, arrays, text, numbers within"
            f" 64 bits, true/false/null), nested at most {MAX_DEPTH} levels",
        ) from None


def _header_value(key: str, value: str) -> str:
    """Percent-decode a ``ce-*`` header (HTTP binding 1.0.2, 3.1.3.2); the decoded bytes
    must be UTF-8."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise InvalidEvent(
            f"header {key.lower()} is not UTF-8 once percent-decoded",
            fix="percent-encode the UTF-8 bytes of the attribute value",
        ) from None


def parse_time(value: Any) -> datetime:
    """RFC 3339 timestamp -> aware datetime (naive input is refused: it is ambiguous)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidEvent(
                f"time {value!r} is not an RFC 3339 timestamp",
                fix="use e.g. 2026-01-31T12:00:00Z",
            ) from None
    if parsed.tzinfo is None:
        raise InvalidEvent(f"time {value!r} has no timezone", fix="append Z or an offset")
    return parsed


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_required(obj: Mapping[str, Any]) -> None:
    missing = [name for name in _REQUIRED if not obj.get(name)]
    if missing:
        raise InvalidEvent(
            f"CloudEvent is missing required attribute(s) {missing}",
            fix="set id, source, type and specversion",
        )
    if obj["specversion"] != SPECVERSION:
        raise InvalidEvent(
            f"unsupported specversion {obj['specversion']!r}", fix="use specversion '1.0'"
        )


def _text(obj: Mapping[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise InvalidEvent(f"attribute {name!r} must be a string", fix=f"send {name} as text")
    return value


def _optional_text(obj: Mapping[str, Any], name: str) -> str | None:
    return None if obj.get(name) is None else _text(obj, name)
