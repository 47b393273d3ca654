"""What every command shares: the store it opens, JSON input, and how errors are shown.

Every ``ArteryError`` becomes one red line on stderr (``error: <message> (<fix>)``) and the
error's exit status; no traceback ever reaches the user for an error Artery raised on
purpose. Lists of problems (contract violations, incompatibilities) follow, one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console

from artery.config import Settings
from artery.contracts import Incompatibility
from artery.envelope import encode_json
from artery.errors import (
    ArteryError,
    BatchViolation,
    ConfigError,
    ContractViolation,
    IncompatibleSchema,
)
from artery.runtime import Runtime, open_runtime
from artery.store import LARGEST_INTEGER

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


N = TypeVar("N", int, list[int], None)


def fits_store(value: N) -> N:
    """Option callback: refuse an integer beyond what the store holds while parsing, naming
    the option; Python ints are unbounded and a driver would fail on it with an
    ``OverflowError`` half-way through the command."""
    for number in value if isinstance(value, list) else [value]:
        if number is not None and not -LARGEST_INTEGER - 1 <= number <= LARGEST_INTEGER:
            raise typer.BadParameter(
                f"{number} is beyond {LARGEST_INTEGER}, the largest number the store holds"
            )
    return value


@dataclass(frozen=True)
class CliState:
    """Global options, kept on the root click context."""

    store: str | None = None


def settings_of(ctx: typer.Context) -> Settings:
    state = ctx.find_object(CliState) or CliState()
    return Settings.load(store=state.store)


def run(ctx: typer.Context, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the store from ``--store``/settings, run ``work`` on it, report errors."""

    async def main(settings: Settings) -> T:
        async with open_runtime(settings) as runtime:
            return await work(runtime)

    with reported():
        return asyncio.run(main(settings_of(ctx)))


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an ``ArteryError`` into its one-line message and exit status."""
    try:
        yield
    except ArteryError as exc:
        report(exc)
        raise typer.Exit(exc.exit_status) from None


def report(exc: ArteryError) -> None:
    if isinstance(exc, BatchViolation):
        head = exc.message.split(";")[0]
        items: Iterable[str] = (
            f"event {index}: {v}" for index, found in exc.failures.items() for v in found
        )
    elif isinstance(exc, ContractViolation):
        head = f"event violates contract {exc.subject!r} v{exc.version}"
        items = (str(v) for v in exc.violations)
    elif isinstance(exc, IncompatibleSchema):
        head = f"new version of {exc.subject!r} is not {exc.mode.lower()} compatible"
        items = (describe_incompatibility(p) for p in exc.problems)
    else:
        head, items = exc.message, ()
    fix = f" ({exc.fix})" if exc.fix else ""
    err.print(f"error: {head}{fix}", style="red", markup=False)
    for item in items:
        err.print(f"  {item}", markup=False)


def describe_incompatibility(problem: object) -> str:
    """``/pointer: reason [KIND, direction vs vN]`` for an ``Incompatibility``."""
    if not isinstance(problem, Incompatibility):
        return str(problem)
    detail = f"{problem.kind}, {problem.direction}"
    if problem.against_version is not None:
        detail += f" vs v{problem.against_version}"
    return f"{problem.pointer or '/'}: {problem.reason} [{detail}]"


def read_json_file(path: Path, what: str = "file") -> Any:
    """Parse a JSON file; a missing or malformed file is a ``ConfigError`` naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist", fix="check the path") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} {str(path)!r}: {exc.strerror}", fix="check the path"
        ) from None
    return parse_json(raw, f"{what} {str(path)!r}")


def parse_json(raw: bytes | str, source: str) -> Any:
    """Parse JSON input; a value JSON cannot store again (nested deeper than orjson
    writes) is refused here, naming its source, rather than deep inside a command."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON: {exc}", fix="correct the JSON") from None
    encode_json(value, source)
    return value


def json_argument(value: str, name: str) -> Any:
    """Inline JSON, or ``@path`` to read it from a file."""
    if value.startswith("@"):
        return read_json_file(Path(value[1:]), f"{name} file")
    return parse_json(value, f"{name} argument")


def dumps(value: Any, *, indent: bool = False) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else None).decode()
