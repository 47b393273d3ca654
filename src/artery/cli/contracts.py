"""``artery contracts``: register, list, show, check and diff contract versions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from artery.cli._shared import (
    describe_incompatibility,
    dumps,
    fits_store,
    out,
    read_json_file,
    reported,
    run,
)
from artery.contracts import Compatibility, check_schema, classify
from artery.contracts.compatibility import Incompatibility, check
from artery.contracts.registry import parse_mode
from artery.errors import ConfigError, InvalidSchema
from artery.runtime import Runtime

app = typer.Typer(help="Versioned JSON Schema contracts.", no_args_is_help=True)

ModeOption = Annotated[
    str | None,
    typer.Option(
        "--compatibility", help="backward, forward, full (each also *-transitive) or none"
    ),
]


def load_schema(path: Path) -> Any:
    """A schema file, checked; problems name the file."""
    schema = read_json_file(path, "schema file")
    try:
        check_schema(schema)
    except InvalidSchema as exc:
        raise InvalidSchema(f"{path}: {exc.message}", fix=exc.fix) from None
    return schema


def load_examples(path: Path | None) -> list[Any]:
    if path is None:
        return []
    examples = read_json_file(path, "examples file")
    if not isinstance(examples, list):
        raise ConfigError(
            f"examples file {str(path)!r} is not a JSON array",
            fix="write the examples as a JSON array of instances",
        )
    return examples


def print_incompatibilities(problems: Sequence[Incompatibility]) -> None:
    for problem in problems:
        out.print(f"  {describe_incompatibility(problem)}", markup=False)


@app.command()
def register(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="contract subject, e.g. commerce.order.placed")],
    file: Annotated[Path, typer.Argument(help="JSON Schema 2020-12 document")],
    owner: Annotated[str | None, typer.Option(help="owning team")] = None,
    description: Annotated[str | None, typer.Option(help="what the contract means")] = None,
    compatibility: ModeOption = None,
    examples: Annotated[Path | None, typer.Option(help="JSON array of example instances")] = None,
) -> None:
    """Register FILE as the next version of SUBJECT (refused if incompatible)."""
    with reported():
        schema = load_schema(file)
        mode = parse_mode(compatibility) if compatibility else None
        samples = load_examples(examples)

    async def work(rt: Runtime) -> None:
        before = {s.name: s.versions for s in await rt.registry.subjects()}.get(subject, ())
        stored = await rt.registry.register(
            subject,
            schema,
            owner=owner,
            description=description,
            examples=samples,
            compatibility=mode,
        )
        state = "unchanged:" if stored.version in before else "registered"
        out.print(f"{state} {subject} v{stored.version}", markup=False)

    run(ctx, work)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every subject with its latest version, compatibility mode and owner."""

    async def work(rt: Runtime) -> None:
        table = Table("subject", "latest", "versions", "compatibility", "owner")
        for s in await rt.registry.subjects():
            table.add_row(
                s.name,
                f"v{s.latest_version}",
                str(len(s.versions)),
                s.compatibility.value.lower(),
                s.owner or "-",
            )
        out.print(table)

    run(ctx, work)


@app.command()
def show(
    ctx: typer.Context,
    subject: str,
    version: Annotated[
        int | None, typer.Option(callback=fits_store, help="version (default: latest)")
    ] = None,
) -> None:
    """Print a contract version: its schema and its classified (pii/secret) paths."""

    async def work(rt: Runtime) -> None:
        found = await rt.registry.get(subject, version)
        info = await rt.registry.subject(subject)
        mode, owner = info.compatibility.value.lower(), found.owner or "-"
        out.print(f"{subject} v{found.version} ({mode}, owner: {owner})", markup=False)
        if found.description:
            out.print(found.description, markup=False)
        out.print(dumps(found.schema, indent=True), markup=False)
        paths = classify(found.schema)
        out.print("classified paths:" if paths else "classified paths: none")
        for item in paths:
            assumed = f"  (whole subtree: {item.assumed})" if item.assumed else ""
            out.print(f"  {item.pointer or '/'}  {item.label.value}{assumed}", markup=False)

    run(ctx, work)


@app.command("check")
def check_(
    ctx: typer.Context,
    subject: str,
    file: Annotated[Path, typer.Argument(help="candidate JSON Schema document")],
) -> None:
    """Would FILE be accepted as the next version of SUBJECT? Exit 0 yes, 1 no."""
    with reported():
        schema = load_schema(file)

    async def work(rt: Runtime) -> tuple[Compatibility, list[Incompatibility]]:
        info = await rt.registry.subject(subject)
        return info.compatibility, await rt.registry.check(subject, schema)

    mode, problems = run(ctx, work)
    report_outcome(mode, problems)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="previous schema (JSON file)")],
    new: Annotated[Path, typer.Argument(help="candidate schema (JSON file)")],
    mode: Annotated[str, typer.Option(help="compatibility mode to check")] = "backward",
) -> None:
    """Check NEW against OLD under MODE, file to file (no store). Exit 0, 1 or 2."""
    with reported():
        chosen = parse_mode(mode)
        previous, candidate = load_schema(old), load_schema(new)
        problems = check(chosen, candidate, [(1, previous)])
    report_outcome(chosen, problems)


def report_outcome(mode: Compatibility, problems: Sequence[Incompatibility]) -> None:
    if not problems:
        out.print(f"compatible ({mode.value.lower()})", markup=False)
        return
    out.print(f"incompatible ({mode.value.lower()}): {len(problems)} problem(s)", markup=False)
    print_incompatibilities(problems)
    raise typer.Exit(1)
