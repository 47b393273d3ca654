"""A deadline on the request head, which uvicorn does not have.

uvicorn closes a keep-alive connection idle between requests, but a client that connects
and then sends its request line and headers a byte at a time (slowloris) holds its
connection, and a slot of ``limit_concurrency``, for as long as it likes. This protocol
(uvicorn's httptools protocol, plus one timer) closes a connection whose request head is
not complete within ``head_timeout`` seconds of the connection opening or of the request's
first byte. The body is not covered: routes bound it by size and by their timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadTimed(HttpToolsProtocol):
    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def head_timed(seconds: float) -> type[asyncio.Protocol]:
    """The httptools protocol with a head deadline of ``seconds``."""
    attributes: dict[str, Any] = {"head_timeout": seconds}
    return type("HeadTimedHttpTools", (HeadTimed,), attributes)
