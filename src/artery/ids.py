"""Random identifiers for events, requests and trace spans, drawn from a pooled CSPRNG.

A request makes four of them (its id, its span, its event's id, and the trace's when the
caller sent none); ``os.urandom`` is a system call each time, which measured ~8% of the
gateway's time per request. Reading the kernel's random bytes 4 KiB at a time keeps their
quality at a fraction of the cost. These are identifiers, not secrets (keys, tokens and
signing material use ``secrets`` directly); the pool is dropped in a forked child, so two
processes never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_CHUNK = 4096


class _Pool:
    __slots__ = ("_at", "_buffer", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._at + size > len(self._buffer):
                self._buffer, self._at = os.urandom(max(_CHUNK, size)), 0
            start, self._at = self._at, self._at + size
            return self._buffer[start : self._at]

    def drop(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._at = b"", 0


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.drop)


def random_bytes(size: int) -> bytes:
    """``size`` bytes from the kernel's CSPRNG (pooled)."""
    return _pool.take(size)


def uuid4() -> str:
    """A random UUID (RFC 9562 version 4), in its canonical 36-character form."""
    raw = bytearray(_pool.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def nonzero_hex(size: int) -> str:
    """``size`` random bytes as hex, never all zero (W3C trace and span ids)."""
    while True:
        raw = _pool.take(size)
        if any(raw):
            return raw.hex()
