"""``artery keys``: API keys for the front door, made and revoked against the store.

A fresh install has no key, so nothing but ``/healthz`` and ``/readyz`` answers; ``artery
keys create`` makes the first one. The key is printed once, at creation: only its hash is
stored, so a lost key is revoked and replaced, never recovered.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from artery.cli._shared import dumps, out, reported, run
from artery.durations import seconds
from artery.gateway.auth.keys import ApiKeys
from artery.runtime import Runtime

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) + "Z"


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="who holds the key, e.g. erp-sync or alice")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="a scope the key grants, e.g. orders:write; repeat for more"),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="lifetime, e.g. 90d or 12h (default: no expiry)")
    ] = None,
    as_json: Json = False,
) -> None:
    """Create a key with SCOPEs and print it, once: store it now, it cannot be shown again."""
    with reported():
        lifetime = None if expires is None else seconds(expires)

    async def work(rt: Runtime) -> None:
        secret, key = await ApiKeys(rt.store).create(name, scope or [], expires_in=lifetime)
        if as_json:
            out.print(dumps({"key": secret, **key.to_dict(time.time())}), markup=False)
            return
        out.print(f"created key {key.prefix} for {name!r}, scopes: {' '.join(key.scopes) or '-'}")
        out.print("the key (shown this once; send it as Authorization: Bearer <key>):")
        out.print(secret, markup=False, soft_wrap=True)

    run(ctx, work)


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """Every key's prefix, holder, scopes, status and last use (never the key itself)."""

    async def work(rt: Runtime) -> None:
        keys = await ApiKeys(rt.store).listed()
        now = time.time()
        if as_json:
            out.print(dumps([key.to_dict(now) for key in keys]), markup=False)
            return
        table = Table("prefix", "name", "scopes", "status", "created", "expires", "last used")
        for key in keys:
            table.add_row(
                key.prefix,
                key.name,
                " ".join(key.scopes),
                key.status(now),
                _when(key.created_at),
                _when(key.expires_at),
                _when(key.last_used_at),
            )
        out.print(table)

    run(ctx, work)


@app.command()
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="the key's prefix, e.g. ak_1a2b3c4d")],
) -> None:
    """Revoke a key: every gateway refuses it within a second."""

    async def work(rt: Runtime) -> None:
        key = await ApiKeys(rt.store).revoke(prefix)
        out.print(f"key {key.prefix} of {key.name!r} is revoked", markup=False)

    run(ctx, work)
