"""Checks stay bounded: deep or hard schemas get an answer or a clear refusal, never a hang
or a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from artery.cli import app
from artery.contracts import CompiledSchema, Registry, check_schema
from artery.contracts.compatibility import Compatibility, check
from artery.errors import InvalidSchema
from artery.store import SqlStore


def tagged_union(levels: int, leaf: dict[str, Any]) -> dict[str, Any]:
    """A oneOf of two tagged objects per level, each holding the level below (inline copies)."""
    schema = leaf
    for _ in range(levels):
        schema = {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"kind": {"const": kind}, "value": schema},
                    "required": ["kind"],
                }
                for kind in ("a", "b")
            ]
        }
    return schema


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def comparing_threads() -> list[str]:
    """Threads whose stack is inside the compatibility comparison right now."""
    return [
        str(ident)
        for ident, frame in sys._current_frames().items()
        if any("contracts/compatibility" in f.co_filename for f in _stack(frame))
    ]


def _stack(frame: Any) -> list[Any]:
    frames = []
    while frame is not None:
        frames.append(frame.f_code)
        frame = frame.f_back
    return frames


def test_deep_schema_with_repeated_subschemas_is_decided_within_the_budget() -> None:
    """Equal subschemas at many places are compared once (about 200 KB, 10 levels)."""
    old, new = tagged_union(10, {"type": "string"}), tagged_union(10, {"type": "integer"})
    problems = check(Compatibility.FULL, new, [(1, old)])  # the default budget applies
    assert {p.kind for p in problems} >= {"TYPE_CHANGED"}
    assert check(Compatibility.FULL, old, [(1, old)]) == []


def test_check_out_of_budget_refuses_instead_of_answering() -> None:
    old, new = tagged_union(6, {"type": "string"}), tagged_union(6, {"type": "integer"})
    with pytest.raises(InvalidSchema, match="could not be decided within the 0s budget"):
        check(Compatibility.FULL, new, [(1, old)], budget=0.0)


async def test_register_refusal_at_budget_leaves_no_thread_comparing(store: SqlStore) -> None:
    registry = Registry(store, check_budget=0.0)
    await registry.register("deep", tagged_union(8, {"type": "string"}), compatibility="full")
    with pytest.raises(InvalidSchema, match="budget"):
        await registry.register("deep", tagged_union(8, {"type": "integer"}))
    assert comparing_threads() == [], "the check stopped at its budget, not abandoned"
    assert len(await registry.versions("deep")) == 1


def test_schema_nested_500_levels_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InvalidSchema, match="nests 1001 levels deep; at most 250"):
        check_schema(nested(500))
    with pytest.raises(InvalidSchema, match="nests 1001 levels deep"):
        CompiledSchema(nested(500))


def test_compatibility_of_schemas_nested_500_levels_is_refused_not_crashed() -> None:
    with pytest.raises(InvalidSchema, match="nest too deeply"):
        check(Compatibility.BACKWARD, nested(500), [(1, nested(499))])


async def test_registering_a_schema_nested_500_levels_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvalidSchema, match="levels deep"):
        await Registry(store).register("deep", nested(500))


def test_contracts_diff_of_a_schema_nested_500_levels_exits_2_with_one_line(
    tmp_path: Path,
) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(nested(3)))
    new.write_text(
        '{"type": "object", "properties": {"a": ' * 500 + '{"type": "string"}' + "}}" * 500
    )
    result = CliRunner().invoke(app, ["contracts", "diff", str(old), str(new)])
    assert result.exit_code == 2, result.output
    # refused where the file is read (JSON nested past what an event can hold)
    assert "levels" in result.output and result.output.count("\n") == 1
    assert "Traceback" not in result.output


DEEP_DATA = """
from artery.contracts import CompiledSchema
data = 1
for _ in range(50_000):
    data = {"a": data}
schema = {"type": "object", "properties": {"a": {"$ref": "#"}}}
print(CompiledSchema(schema).violations(data)[0].message)
"""


def test_data_nested_deeper_than_an_event_can_hold_is_a_violation_not_a_crash() -> None:
    # in a child process: without the guard the validator overflows its stack (SIGSEGV)
    done = subprocess.run(
        [sys.executable, "-c", DEEP_DATA], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "nests deeper than 254 levels" in done.stdout


def test_data_that_is_not_json_is_a_violation_not_a_traceback() -> None:
    [violation] = CompiledSchema({"type": "object"}).violations({"tags": {"a", "b"}})
    assert "not JSON" in violation.message and violation.pointer == ""
