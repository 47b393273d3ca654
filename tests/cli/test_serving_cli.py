"""``artery gateway``: a process that serves HTTP and consumes nothing, beside workers
that share its store."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
from test_delivery_cli import _lags, created_key, runner, spawn

from artery.cli import app as cli


def test_a_fresh_install_refuses_every_admin_call_and_says_how_to_make_a_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/artery.db"
    process = spawn(tmp_path, {"ARTERY_STORE": url}, "run", "tests_module:app", "--port", "0")
    try:
        assert process.stdout is not None
        admin = process.stdout.readline().split("admin API at ")[1].split()[0]
        refused = httpx.get(f"{admin}/consumers", timeout=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="artery"'
    assert "no API key exists yet" in stderr and "artery keys create" in stderr


def test_gateway_serves_the_admin_api_and_runs_no_consumer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/artery.db"
    key = created_key(url)
    gateway = spawn(tmp_path, {"ARTERY_STORE": url}, "gateway", "tests_module:app", "--port", "0")
    try:
        assert gateway.stdout is not None
        banner = gateway.stdout.readline()
        assert banner.startswith("gateway 'files': 1 consumer(s); admin API at"), banner
        admin = banner.split("admin API at ")[1].split()[0]
        for n in range(3):
            result = runner.invoke(cli, ["--store", url, "publish", "orders", json.dumps({"n": n})])
            assert result.exit_code == 0, result.output
        consumers = httpx.get(f"{admin}/consumers", headers=key, timeout=10).json()
        assert [(c["group"], c["topic"]) for c in consumers] == [("files", "orders")]
        assert httpx.get(f"{admin}/nothing", headers=key, timeout=10).status_code == 404
        gateway.send_signal(signal.SIGTERM)
        stdout, stderr = gateway.communicate(timeout=30)
    finally:
        gateway.kill()
    assert gateway.returncode == 0, stderr
    assert "gateway 'files' stopped" in stdout
    assert not (tmp_path / "started.txt").exists(), "a gateway runs no handler"
    assert asyncio.run(_lags(url)) == {}, "no consumer group ever joined"
