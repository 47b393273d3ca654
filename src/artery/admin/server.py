"""Serving the admin API with uvicorn, in-process, on the app's own event loop.

The listening socket is bound before uvicorn starts, so a busy port is a clear
``ConfigError`` (not uvicorn's ``sys.exit``) and port 0 yields the port actually bound.
Signals are left to the caller (``App.serve`` handles SIGTERM/SIGINT): this server stops
when it is cancelled or stopped, finishing the requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING

import uvicorn

from artery.admin import PREFIX, create_admin_app
from artery.errors import ConfigError

if TYPE_CHECKING:
    from artery.app import App

GRACE = 5  # seconds open requests get to finish at shutdown


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the process's signals belong to App.serve(), not to us


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"cannot serve the admin API on {host}:{port}: {reason}",
            fix="choose another address or port, or stop what is using it",
        ) from None


class AdminServer:
    """A ``Service`` of the app: the admin API is served while the app runs.

    Add it to ``app.services`` before starting the app; it starts after the store is
    open and, stopping in reverse order, after the workers have drained."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None  # the bound port, once started
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PREFIX}"

    async def start(self, app: App) -> None:
        sock = bind(self.host, self.requested_port)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            create_admin_app(app),
            lifespan="off",
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACE,
        )
        server = self._server = _Server(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="artery-admin")
        while not server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            sock.close()
            await self._task  # raises why it could not start
            raise ConfigError(
                f"the admin API on {self.host}:{self.port} stopped while starting",
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


@contextlib.asynccontextmanager
async def admin_running(
    app: App, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[AdminServer]:
    """Serve ``app``'s admin API for the block; ``server.port`` is the bound port."""
    server = AdminServer(host, port)
    await server.start(app)
    try:
        yield server
    finally:
        await server.stop()


async def serve_admin(app: App, host: str, port: int) -> None:
    """Serve ``app``'s admin API until cancelled, then shut down gracefully."""
    async with admin_running(app, host, port) as server:
        await server.wait()
