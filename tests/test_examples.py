"""The examples are documentation: they run, and do what they say."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name: str) -> ModuleType:
    return load_from(EXAMPLES / f"{name}.py", name)


def load_from(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def test_quickstart_posts_invoices_dead_letters_and_runs_sagas(tmp_path: Path) -> None:
    result = await load("quickstart").main(f"sqlite:///{tmp_path}/q.db")
    assert result["invoices"] == 4
    assert result["dead"] == 1
    assert result["outcomes"] == {"completed": 4, "compensated": 1}
    assert result["lag"] == 0


COMMERCE = EXAMPLES / "commerce"


def test_the_commerce_demo_runs_against_its_partners_and_balances_its_books() -> None:
    """``make demo``, shortened: separate processes over HTTP on 127.0.0.1, a fresh SQLite
    store, misbehaving partners; it exits 0 only when the books balance."""
    done = subprocess.run(
        [sys.executable, str(COMMERCE / "demo.py"), "--orders", "60", "--rate", "30",
         "--silence", "6", "--erp-down", "2", "--approval-within", "5s"],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = done.stdout
    assert "the books balance" in summary
    assert re.search(r"silent-source alert\s*│ shop, \d+ s in", summary), summary
    assert re.search(r"rejected, and why\s*│ bad-signature: \d+", summary), summary
    assert re.search(r"fulfilment runs\s*│ .*completed: \d+", summary), summary
    assert re.search(r"peak memory of artery run\s*│ \d+ MiB", summary), summary
    assert "needs attention" in summary  # the artery status screen


def books_module() -> ModuleType:
    sys.path.insert(0, str(COMMERCE))
    try:
        return load_from(COMMERCE / "books.py", "commerce_books")
    finally:
        sys.path.remove(str(COMMERCE))


def test_the_books_catch_an_order_invoiced_twice_or_lost() -> None:
    books = books_module()
    stats = {
        "shop": {"valid_orders": [1, 2, 3]},
        "erp": {"invoices": {"1": 1, "2": 2}},
    }
    found = books.Books(stats, [], 3, {"erp-invoices": []}, Counter(), 0, [], {})
    assert books.invoicing(found) == [
        "order 2 was invoiced 2 times",
        "order 3 was neither invoiced nor dead-lettered",
    ]
    found.dead = {"erp-invoices": ["3"]}
    assert books.invoicing(found) == ["order 2 was invoiced 2 times"]


def test_the_books_catch_a_charge_without_a_fulfilment() -> None:
    books = books_module()
    captured, refunded = {"captured": True}, {"captured": True, "refunded": True}
    payments = {"1": captured, "2": captured, "3": refunded, "4": {"captured": False}}
    stock = {"1": {"reserved": 1, "released": 0}, "2": {"reserved": 1, "released": 1}}
    partners = {"payments": {"orders": payments}, "warehouse": {"orders": stock}}
    assert books.charging(partners) == ["order 2 was charged but not fulfilled, nor refunded"]
