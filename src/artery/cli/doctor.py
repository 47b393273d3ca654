"""``artery doctor``: can this machine run Artery as configured? One row per check.

Settings and the store are always checked; NATS when the event log is in JetStream
(``ARTERY_LOG``) or ``ARTERY_NATS_URL`` is set, Redis when ``ARTERY_REDIS_URL`` is, since
nothing needs them otherwise.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.table import Table
from rich.text import Text

from artery.cli._shared import CliState, out
from artery.config import Settings
from artery.errors import ArteryError
from artery.store import Schema, default_schemas, open_store
from artery.store.migrations import applied_versions, behind

TIMEOUT = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def failed(name: str, exc: BaseException) -> Check:
    if isinstance(exc, ArteryError):
        return Check(name, False, exc.message, exc.fix)
    if isinstance(exc, TimeoutError):
        return Check(name, False, f"no answer within {TIMEOUT:g}s", "check host, port, firewall")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Check(name, False, text, "check that the service is running and the URL is right")


async def check_store(settings: Settings) -> Check:
    name = "store"
    try:
        store = await asyncio.wait_for(
            open_store(settings.store, sqlite_synchronous=settings.sqlite_synchronous), TIMEOUT
        )
    except Exception as exc:
        return failed(name, exc)
    try:
        name = f"store ({store.dialect.name})"
        applied = await store.read(applied_versions)
    except Exception as exc:
        return failed(name, exc)
    finally:
        await store.close()
    return schema_check(name, store.dialect.display_url, applied, default_schemas())


def schema_check(
    name: str, url: str, applied: Mapping[str, int], schemas: Sequence[Schema]
) -> Check:
    """One row for the store: each package's version, and which packages are behind."""
    lags = {lag.package: lag for lag in behind(applied, schemas)}
    versions = ", ".join(
        str(lags[s.package]) if s.package in lags else f"{s.package} v{s.version}" for s in schemas
    )
    detail = f"{url}, migrations {versions}"
    if lags:
        fix = f"run a newer artery against this store to migrate {', '.join(lags)}"
        return Check(name, False, detail, fix)
    return Check(name, True, detail)


async def probe(url: str, greeting: bytes | None, default_port: int) -> bytes:
    """Connect to ``url``'s host and port, optionally send ``greeting``, return one line."""
    parts = urlsplit(url)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or default_port),
        TIMEOUT,
    )
    try:
        if greeting:
            writer.write(greeting)
            await writer.drain()
        return await asyncio.wait_for(reader.readline(), TIMEOUT)
    finally:
        writer.close()


async def check_nats(url: str) -> Check:
    try:
        line = await probe(url, None, 4222)
    except Exception as exc:
        return failed("NATS", exc)
    if not line.startswith(b"INFO"):
        return Check("NATS", False, f"{url} did not greet like NATS", "point it at a NATS server")
    jetstream = b'"jetstream":true' in line.replace(b" ", b"")
    detail = f"{url} reachable" + ("" if jetstream else " (JetStream not enabled)")
    return Check("NATS", jetstream, detail, None if jetstream else "start nats-server with -js")


async def check_redis(url: str) -> Check:
    try:
        line = await probe(url, b"PING\r\n", 6379)
    except Exception as exc:
        return failed("Redis", exc)
    if line.startswith((b"+PONG", b"-NOAUTH")):
        return Check("Redis", True, f"{url} reachable")
    return Check("Redis", False, f"{url} did not answer PING", "point it at a Redis server")


async def gather_checks(settings: Settings) -> list[Check]:
    pending = [check_store(settings)]
    nats_url = settings.log or os.environ.get("ARTERY_NATS_URL")  # the log's, when it has one
    if nats_url:
        pending.append(check_nats(nats_url))
    if os.environ.get("ARTERY_REDIS_URL"):
        pending.append(check_redis(os.environ["ARTERY_REDIS_URL"]))
    return list(await asyncio.gather(*pending))


def run_checks(state: CliState) -> list[Check]:
    try:
        settings = Settings.load(store=state.store)
    except ArteryError as exc:
        return [failed("settings", exc)]
    source = "artery.toml, " if Path("artery.toml").is_file() else ""
    loaded = Check("settings", True, f"loaded from {source}ARTERY_* env and options")
    return [loaded, *asyncio.run(gather_checks(settings))]


def doctor(ctx: typer.Context) -> None:
    """Check settings, the store (backend, migrations) and configured services."""
    checks = run_checks(ctx.find_object(CliState) or CliState())
    table = Table("check", "status", "detail")
    for check in checks:
        status = "[green]ok[/]" if check.ok else "[red]fail[/]"
        detail = check.detail + (f" (fix: {check.fix})" if check.fix else "")
        table.add_row(Text(check.name), status, Text(detail))
    out.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
