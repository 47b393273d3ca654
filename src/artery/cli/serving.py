"""Running an app in a process role: ``artery run``, ``artery worker``, ``artery gateway``.

Each imports the user's ``App`` (``MODULE:ATTR``) and runs its role until SIGTERM or SIGINT,
then stops gracefully: running handlers finish within the grace period, offsets are
committed and leases handed back, and the process exits 0. ``--store`` overrides the store
the app was configured with. Logs go to stderr, structured (``observe.logs``: JSON lines,
or readable on a terminal), from when the arguments and the app are checked and it starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from artery.admin import PREFIX
from artery.cli._shared import CliState, out, reported
from artery.cli.loader import load_app
from artery.gateway.server import Listen
from artery.observe import logs
from artery.roles import Role

if TYPE_CHECKING:
    from artery.app import App

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
Host = Annotated[str, typer.Option(help="address to serve HTTP on")]
Port = Annotated[int, typer.Option(min=0, max=65535, help="port to serve HTTP on")]


def loaded(ctx: typer.Context, target: str) -> App:
    """The app named by ``target``, on the store given with ``--store`` if any."""
    app = load_app(target)
    state = ctx.find_object(CliState)
    if state is not None and state.store is not None:
        app.settings = dataclasses.replace(app.settings, store=state.store)
    return app


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived serving loop on uvloop when installed: the HTTP face spends most of
    its time in the loop's socket handling, which uvloop does in C (bench/gateway.py)."""
    try:
        import uvloop
    except ImportError:  # e.g. on Windows
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def serve(app: App, role: Role, listen: Listen | None, shown: str | None = None) -> None:
    """Run ``app`` in ``role`` until SIGTERM/SIGINT, saying when it is up and where."""
    with reported():
        logs.configure()
    name = shown or role.value

    def announce(running: App) -> None:
        http = running.http
        where = f"; admin API at {http.url}{PREFIX}" if http else ""
        out.print(
            f"{name} {running.name!r}: {len(running.declared.consumers)} consumer(s){where}"
            " (stop with Ctrl+C or SIGTERM)",
            markup=False,
        )

    with reported():
        run_fast(app.serve(role, listen=listen, started=announce))
    out.print(f"{name} {app.name!r} stopped", markup=False)


def worker(
    ctx: typer.Context,
    target: Target,
    admin: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="also serve the admin API here")
    ] = None,
) -> None:
    """Run the app's consumers, workflows, schedules and retention until SIGTERM/SIGINT."""
    with reported():
        listen = Listen.parse(admin, "--admin") if admin is not None else None
        app = loaded(ctx, target)
    serve(app, Role.WORKER, listen)


def gateway(
    ctx: typer.Context, target: Target, host: Host = "127.0.0.1", port: Port = 8080
) -> None:
    """Serve the app's HTTP face alone (the admin API under /admin); no consumers run.
    Several gateways may share one PostgreSQL store."""
    with reported():
        app = loaded(ctx, target)
    serve(app, Role.GATEWAY, Listen(host, port))


def run_app(
    ctx: typer.Context,
    target: Target,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    no_admin: Annotated[
        bool, typer.Option("--no-admin", help="do not serve HTTP (the admin API)")
    ] = False,
) -> None:
    """Run everything in one process: the workers and the HTTP face (admin API under /admin)."""
    with reported():
        app = loaded(ctx, target)
    if no_admin:
        serve(app, Role.WORKER, None, shown="app")
    else:
        serve(app, Role.RUN, Listen(host, port), shown="app")
