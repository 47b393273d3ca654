"""The benchmarks keep running: each one's quick mode prints its table (Artery side, SQLite).

These check that bench/ works, never how fast anything is: speed is read from full runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench"


@pytest.mark.parametrize(
    "script, args, expected",
    [
        (
            "log.py",
            ["--stores", "sqlite"],
            ["append (app.publish)", "consume (read 500 + commit)", "nats-py alone (acked)"],
        ),
        ("scale.py", [], ["worker processes", "model: N machines"]),
        ("delivery.py", ["--only", "artery", "--stores", "sqlite"], ["noop", "sleep20", "p99"]),
        (
            "workflows.py",
            ["--only", "artery", "--stores", "sqlite"],
            ["64 concurrent", "sequential"],
        ),
        ("gateway.py", ["--stores", "sqlite"], ["bare Starlette", "full path, sqlite", "p99"]),
        ("mapping.py", [], ["shopify_order", "Artery us", "jmespath us", "JSONata us"]),
        ("webhooks.py", [], ["artery source", "artery worker", "goals"]),
        ("console.py", [], ["/console/catalog", "/admin/consumers", "goal (p95 < 200 ms"]),
    ],
)
def test_benchmark_quick_run_prints_its_table(
    script: str, args: list[str], expected: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout, f"{script} output lacks {text!r}"
