"""The examples are documentation: they run, and do what they say."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
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
