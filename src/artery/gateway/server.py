"""Serving the HTTP face with uvicorn, in-process, on the app's own event loop.

The listening socket is bound before uvicorn starts, so a busy port is a clear
``ConfigError`` (not uvicorn's ``sys.exit``) and port 0 yields the port actually bound.
Signals are left to the caller (``App.serve`` handles SIGTERM/SIGINT): this server stops
when it is cancelled or stopped, finishing the requests in flight.

Protocol: httptools (C) when importable, else h11. The event loop is the caller's (uvloop
when the process installed its policy); uvicorn's ``loop`` setting applies only when uvicorn
makes the loop itself. Slow clients: a request head (line and headers) must arrive within
``HEAD_TIMEOUT`` seconds (``slow_clients.py``; httptools only), an idle keep-alive connection
is closed after ``KEEP_ALIVE`` seconds, at most ``MAX_CONNECTIONS`` connections and requests
are served at once (more get a 503 at once instead of queueing without bound), and
``BACKLOG`` connections may wait to be accepted. Header size and count are bounded by the
edge middleware (431).

Binding beyond loopback logs a warning naming what is exposed; everything exposed requires
a credential, and the Host check refuses names not in ``allowed_hosts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import logging
import socket
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.routing import BaseRoute

from artery.config import Settings
from artery.errors import ConfigError
from artery.gateway import http_app
from artery.runtime import Runtime

GRACE = 5  # seconds open requests get to finish at shutdown
HEAD_TIMEOUT = 10.0  # seconds a request's line and headers may take to arrive
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept open
MAX_CONNECTIONS = 2048  # connections and requests at once; beyond them, 503 at once
BACKLOG = 2048  # connections waiting to be accepted
H11_MAX_HEADER = 64 * 1024  # bytes of an incomplete request head h11 buffers (httptools: 80 KiB)

log = logging.getLogger("artery.http")


@dataclass(frozen=True)
class Listen:
    """Where the HTTP face listens; port 0 picks a free port."""

    host: str = "127.0.0.1"
    port: int = 8080

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range", fix="use 0 to 65535")

    @classmethod
    def parse(cls, text: str, option: str = "--http") -> Listen:
        """``HOST:PORT`` (``[::1]:8080`` for IPv6); a bare ``:PORT`` means 127.0.0.1."""
        host, sep, port = text.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"{option} {text!r} is not HOST:PORT", fix="use e.g. 127.0.0.1:8081")
        return cls(host, int(port))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process's signals belong to App.serve(), not to us


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
        # accepted connections inherit it: without, Nagle holds a small answer ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve HTTP on {host}:{port}: {reason}",
            fix="choose another address or port, or stop what is using it",
        ) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def protocols(head_timeout: float) -> tuple[str, str | type[asyncio.Protocol]]:
    """uvicorn's ``(loop, http)``: uvloop and httptools (with the head deadline) when
    installed, else the pure-Python ones."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if importlib.util.find_spec("httptools") is None:
        return loop, "h11"
    from artery.gateway.slow_clients import head_timed

    return loop, head_timed(head_timeout)


def warn_if_exposed(host: str, port: int, settings: Settings) -> None:
    """A WARNING when the server listens beyond loopback, naming what is exposed."""
    if is_loopback(host):
        return
    hosts = ", ".join(settings.allowed_hosts)
    log.warning(
        "serving HTTP on %s:%d, reachable from other machines: the admin API (/admin), the"
        " integrations' routes and the token endpoint are exposed; all but the token"
        " endpoint, the JWKS and the health probes require a credential (API key or access"
        " token), and only Host names in allowed_hosts (%s) are answered. Bind 127.0.0.1"
        " unless this is meant.",
        host,
        port,
        hosts,
    )


class HttpServer:
    """A service of the gateway role: the mounts are served while the app runs. It starts
    after the store is open and, stopping in reverse order, after the workers drained."""

    def __init__(
        self, listen: Listen, mounts: Sequence[BaseRoute], *, head_timeout: float = HEAD_TIMEOUT
    ) -> None:
        self.head_timeout = head_timeout
        self.host = listen.host
        self.requested_port = listen.port
        self.mounts = mounts
        self.port: int | None = None  # the bound port, once started
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL (no path); mounts are below it, e.g. ``url + "/admin"``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, runtime: Runtime) -> None:
        sock = bind(self.host, self.requested_port)
        self.port = int(sock.getsockname()[1])
        warn_if_exposed(self.host, self.port, runtime.settings)
        loop, http = protocols(self.head_timeout)
        config = uvicorn.Config(
            http_app(
                self.mounts,
                runtime.settings,
                metrics=runtime.metrics if runtime.settings.metrics else None,
                tracing=runtime.tracing,
            ),
            loop=loop,
            http=http,
            lifespan="off",
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACE,
            timeout_keep_alive=KEEP_ALIVE,
            limit_concurrency=MAX_CONNECTIONS,
            backlog=BACKLOG,
            h11_max_incomplete_event_size=H11_MAX_HEADER,
        )
        server = self._server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="artery-http")
        while not server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            sock.close()
            await self._task  # raises why it could not start
            raise ConfigError(
                f"the HTTP server on {self.host}:{self.port} stopped while starting",
                fix="see the log above for the cause",
            )

    async def wait(self) -> None:
        """Return when the server stops (it stops only through ``stop``)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.wait([self._task])
        task, self._server, self._task = self._task, None, None
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
