"""``artery sources list|test MODULE:APP``: the app's webhook sources, and what a payload
would become.

``list`` shows each source's path, scheme, contract and mapping, with its liveness from
the store (calls accepted, when last, silent or not, rejections per reason). ``test NAME
payload.json`` maps a saved vendor payload with the source's mapping and checks it against
the contract, publishing nothing: the way to write a mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from artery.cli._shared import dumps, out, reported
from artery.cli.serving import loaded
from artery.contracts.validation import CompiledSchema
from artery.errors import ConfigError, NotFound
from artery.integration import Contract
from artery.webhooks.ledger import Ledger
from artery.webhooks.mapping import MappingFailed

app = typer.Typer(help="Webhook sources: list them, test a mapping.", no_args_is_help=True)

Target = Annotated[str, typer.Argument(metavar="MODULE:APP", help="e.g. app:app")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of text")]


@app.command("list")
def list_(ctx: typer.Context, target: Target, as_json: AsJson = False) -> None:
    """Every source with its liveness (calls accepted, silent or not, rejections)."""
    import asyncio

    with reported():
        artery_app = loaded(ctx, target)

        async def status() -> list[dict[str, Any]]:
            async with artery_app.running(None):
                ledger = Ledger(list(artery_app.declared.sources.values()))
                ledger.attach(artery_app.store)
                return await ledger.status()

        found = asyncio.run(status())
    if as_json:
        typer.echo(dumps(found, indent=True))
        return
    table = Table("source", "path", "scheme", "emits", "accepted", "last call", "silent")
    table.add_column("rejected")
    for entry in found:
        table.add_row(
            entry["name"],
            entry["path"],
            entry["scheme"],
            entry["emits"],
            str(entry["accepted"]),
            entry["last_accepted_at"] or "never",
            "SILENT" if entry["silent"] else "no",
            ", ".join(f"{k} {v}" for k, v in sorted(entry["rejected"].items())) or "-",
        )
    out.print(table)


@app.command()
def test(
    ctx: typer.Context,
    target: Target,
    name: Annotated[str, typer.Argument(metavar="NAME", help="the source's name")],
    payload: Annotated[Path, typer.Argument(help="a JSON file: the vendor's payload")],
    header: Annotated[
        list[str] | None, typer.Option(help='"Name: value" the mapping may read; repeatable')
    ] = None,
) -> None:
    """Map PAYLOAD as source NAME would, and check it against the contract (nothing is
    published)."""
    with reported():
        declared = loaded(ctx, target).declared
        source = declared.sources.get(name)
        if source is None:
            raise NotFound(
                f"no webhook source named {name!r}",
                fix=f"known: {', '.join(sorted(declared.sources)) or 'none'}",
            )
        try:
            document = orjson.loads(payload.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(
                f"{payload} is not a readable JSON file ({type(exc).__name__})",
                fix="save the partner's payload as JSON",
            ) from None
        headers = dict(_header(h) for h in header or [])
        mapped = source.mapping(document, headers)
        contract = declared.contracts.get(source.subject)
        out.print(dumps(mapped, indent=True), markup=False)
        if not isinstance(contract, Contract):
            out.print(f"(contract {source.subject} is not declared here: not checked)")
            return
        found = CompiledSchema(contract.schema).violations(mapped)
        if found:
            for v in found:
                out.print(f"{v.pointer or '/'}: {v.message}", markup=False)
            raise MappingFailed(
                f"the mapped event violates {source.subject} at"
                f" {', '.join(v.pointer or '/' for v in found)}",
                fix="correct the mapping (or the payload) until it maps to a valid event",
            )
        out.print(f"valid {source.subject} event", markup=False)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text!r} is not Name: value", fix='e.g. "X-Topic: orders"')
    return name.strip().lower(), value.strip()
