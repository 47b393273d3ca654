"""Killing workers with SIGKILL at random points across 200 concurrent sagas loses nothing:
after a restart every run completes or compensates, and every step's effect (keyed by its
idempotency key) is applied exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from artery.workflows import Status

HERE = Path(__file__).parent
RUNS = 200


def make_partner(tmp_path: Path) -> str:
    path = str(tmp_path / "partner.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE calls (key TEXT NOT NULL, action TEXT NOT NULL)")
    conn.execute("CREATE TABLE effects (key TEXT PRIMARY KEY, action TEXT NOT NULL)")
    conn.commit()
    conn.close()
    return path


def partner(path: str, sql: str) -> list[tuple[str, ...]]:
    conn = sqlite3.connect(path, timeout=30)
    rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def spawn(store_url: str, partner_db: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "saga_worker.py"), store_url, partner_db],
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )


@pytest.mark.fault
async def test_sigkill_at_random_points_leaves_every_saga_done_once(
    store_url: str, tmp_path: Path
) -> None:
    sys.path.insert(0, str(HERE))
    from saga_worker import build

    partner_db = make_partner(tmp_path)
    app = build(store_url, partner_db)
    rng = random.Random(7)
    async with app.running(None):
        for n in range(RUNS):
            await app.workflows.start("saga", n, id=f"saga-{n}")
        unfinished_at_kill = []
        for low, high in ((40, 150), (200, 320), (360, 480)):  # kill at random progress points
            threshold = rng.randint(low, high)
            victim = spawn(store_url, partner_db)
            while partner(partner_db, "SELECT COUNT(*) FROM effects")[0][0] < threshold:
                await asyncio.sleep(0.01)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            live = [
                r
                for r in await app.workflows.list(limit=1000)
                if r.status not in (Status.COMPLETED, Status.COMPENSATED)
            ]
            unfinished_at_kill.append(len(live))
        assert all(n > 0 for n in unfinished_at_kill), "every kill must land mid-run"
        survivors = [spawn(store_url, partner_db), spawn(store_url, partner_db)]
        try:
            for _ in range(600):
                live = [
                    r
                    for r in await app.workflows.list(limit=1000)
                    if r.status not in (Status.COMPLETED, Status.COMPENSATED)
                ]
                if not live:
                    break
                await asyncio.sleep(0.1)
            runs = {r.run_id: r for r in await app.workflows.list(limit=1000)}
        finally:
            for proc in survivors:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=30) for proc in survivors]
    assert codes == [0, 0]
    assert len(runs) == RUNS
    statuses = {run_id: run.status for run_id, run in runs.items()}
    expected_status = {
        f"saga-{n}": Status.COMPENSATED if n % 10 == 0 else Status.COMPLETED for n in range(RUNS)
    }
    assert statuses == expected_status
    effects = dict(partner(partner_db, "SELECT key, action FROM effects"))
    expected: dict[str, str] = {}
    for n in range(RUNS):
        expected[f"saga-{n}:0"] = "reserve"
        expected[f"saga-{n}:1"] = "charge"
        if n % 10 == 0:
            expected[f"saga-{n}:1000000"] = "refund"
            expected[f"saga-{n}:1000001"] = "release"
        else:
            expected[f"saga-{n}:2"] = "ship"
    assert effects == expected, "each step and compensation took effect exactly once"
    (calls,) = partner(partner_db, "SELECT COUNT(*) FROM calls")[0]
    assert calls >= len(expected)
    print(
        f"unfinished runs at each kill: {unfinished_at_kill}; partner calls {calls}"
        f" for {len(expected)} effects"
    )
