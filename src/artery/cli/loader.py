"""Finding the user's ``App`` from an import string, as uvicorn does: ``MODULE:ATTR``.

The working directory goes first on ``sys.path`` so ``artery worker app:app`` finds
``./app.py``. A missing module or attribute, or an object that is not an ``App``, is a
``ConfigError`` (exit status 2) naming what was looked for. An exception raised by the
user's module while it imports is not ours to rephrase and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

from artery.app import App
from artery.errors import ConfigError

FORMAT_FIX = "give it as MODULE:ATTRIBUTE, e.g. `app:app` for the `app` object in ./app.py"


def load_app(target: str, *, path: str | None = None) -> App:
    """Import ``target`` (``package.module:attr.sub``) and return the ``App`` it names."""
    module_name, sep, attrs = target.partition(":")
    if not sep or not module_name or not attrs:
        raise ConfigError(f"{target!r} is not an import string", fix=FORMAT_FIX)
    directory = path if path is not None else os.getcwd()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _is_prefix(exc.name, module_name):
            raise  # the module exists but something it imports does not
        raise ConfigError(
            f"module {module_name!r} not found (looked in {directory} and the installed packages)",
            fix="run from the directory holding it, or check the module name",
        ) from None
    found: object = module
    for attr in attrs.split("."):
        try:
            found = getattr(found, attr)
        except AttributeError:
            raise ConfigError(
                f"module {module_name!r} has no attribute {attrs!r}",
                fix="name the variable that holds your App, e.g. `app = App(...)`",
            ) from None
    if not isinstance(found, App):
        raise ConfigError(
            f"{target!r} is a {type(found).__name__}, not an artery App",
            fix="point at the object created with `App(...)`",
        )
    return found


def _is_prefix(missing: str, module_name: str) -> bool:
    """Whether the missing module is the target or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")
