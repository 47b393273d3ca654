"""A configurable HMAC scheme for senders none of the named schemes covers.

The signature is read from a header or from a field of the JSON body (a JSON pointer);
it is the HMAC (any ``hashlib`` algorithm) of what ``signed`` describes, encoded as hex,
base64 or base64url, after an optional prefix. ``signed`` is a template over the raw
bytes received: ``{body}`` is the body exactly as it arrived, ``{timestamp}`` and ``{id}``
the signed time and delivery id, and ``{/a/b}`` the text of a body field. A vendor that
signs ``timestamp + token`` and puts the signature in the body (Mailgun's shape) is::

    Hmac(body_field="/signature/signature", timestamp_field="/signature/timestamp",
         signed="{/signature/timestamp}{/signature/token}")
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from artery.errors import ConfigError
from artery.webhooks.schemes import (
    TOLERANCE,
    Headers,
    SignatureRefused,
    Verified,
    _any_equal,
    _bad,
    _check_time,
    _mac,
    _missing,
)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
ENCODINGS = ("hex", "base64", "base64url")


@dataclass(frozen=True)
class Hmac:
    """The generic scheme (see the module docstring); the signature's ``body_field``, when
    set, wins over ``header``."""

    header: str | None = "x-signature"
    body_field: str | None = None
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    signed: str = "{body}"
    timestamp_header: str | None = None
    timestamp_field: str | None = None
    id_header: str | None = None
    id_field: str | None = None
    tolerance: float = TOLERANCE
    name: str = "hmac"

    def __post_init__(self) -> None:
        if self.algorithm not in hashlib.algorithms_guaranteed or self.algorithm.startswith(
            ("shake_", "md5")
        ):
            raise ConfigError(
                f"HMAC algorithm {self.algorithm!r} is not usable",
                fix="use sha256, sha384, sha512 (or sha1 if the sender offers nothing else)",
            )
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"signature encoding {self.encoding!r} is unknown", fix="use hex or base64"
            )
        if self.header is None and self.body_field is None:
            raise ConfigError(
                "the scheme says nowhere where the signature is",
                fix="name its header (header=...) or its body field (body_field=/json/pointer)",
            )
        for name in _PLACEHOLDER.findall(self.signed):
            if name not in ("body", "timestamp", "id") and not name.startswith("/"):
                raise ConfigError(
                    f"signed template names {{{name}}}",
                    fix="use {body}, {timestamp}, {id} or a JSON pointer such as {/token}",
                )
        object.__setattr__(self, "header", self.header.lower() if self.header else None)

    @property
    def reads_body(self) -> bool:
        return (
            self.body_field is not None
            or "{/" in self.signed
            or bool(self.timestamp_field or self.id_field)
        )

    def verify(self, headers: Headers, body: bytes, secrets: Sequence[str], now: float) -> Verified:
        payload = _json(body) if self.reads_body else None
        given = self._signature(headers, payload)
        stamp = self._value(headers, payload, self.timestamp_header, self.timestamp_field)
        when = _check_time(stamp, now, self.tolerance) if stamp is not None else None
        if (self.timestamp_header or self.timestamp_field) and stamp is None:
            raise _missing("signed timestamp")
        delivery = self.delivery_id(headers, payload)
        content = self._content(body, payload, stamp, delivery)
        expected = [_mac(s.encode(), content, self.algorithm) for s in secrets]
        if given is None or not _any_equal([given], expected):
            raise _bad()
        return Verified(delivery, when)

    def delivery_id(self, headers: Headers, payload: Any) -> str | None:
        return self._value(headers, payload, self.id_header, self.id_field)

    def _signature(self, headers: Headers, payload: Any) -> bytes | None:
        text = (
            _at(payload, self.body_field)
            if self.body_field is not None
            else headers.get(self.header or "")
        )
        if not isinstance(text, str) or not text:
            raise _missing("signature " + (self.body_field or self.header or ""))
        if self.prefix:
            if not text.startswith(self.prefix):
                raise _bad()
            text = text[len(self.prefix) :]
        return _decode(text.strip(), self.encoding)

    def _value(
        self, headers: Headers, payload: Any, header: str | None, field: str | None
    ) -> str | None:
        if header is not None:
            return headers.get(header.lower())
        if field is not None:
            found = _at(payload, field)
            return None if found is None else _text(found)
        return None

    def _content(self, body: bytes, payload: Any, stamp: str | None, delivery: str | None) -> bytes:
        parts: list[bytes] = []
        at = 0
        for match in _PLACEHOLDER.finditer(self.signed):
            parts.append(self.signed[at : match.start()].encode())
            name = match.group(1)
            if name == "body":
                parts.append(body)
            elif name == "timestamp":
                parts.append((stamp or "").encode())
            elif name == "id":
                parts.append((delivery or "").encode())
            else:
                found = _at(payload, name)
                parts.append(b"" if found is None else _text(found).encode())
            at = match.end()
        parts.append(self.signed[at:].encode())
        return b"".join(parts)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _missing("JSON body to read the signature from") from None


def _at(document: Any, pointer: str | None) -> Any:
    node = document
    for token in (pointer or "").split("/")[1:]:
        part = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _decode(text: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        if encoding == "base64url":
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


__all__ = ["ENCODINGS", "Hmac", "SignatureRefused"]
