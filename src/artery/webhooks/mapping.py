"""Normalize at the edge: a vendor's payload mapped to the canonical contract.

A mapping is a JMESPath expression (inline, or a ``.jmespath`` file) or a Python function
``fn(payload)`` / ``fn(payload, headers)``; none passes the payload through unchanged.
JMESPath over JSONata (``bench/mapping.py``, Shopify, Stripe and GitHub payloads):
jsonata-python took 6-10x longer per payload (Shopify order 251 µs against 41 µs) and
turned Shopify's 64-bit order ids into floats (``8.20982911946155e+17``), a silent
corruption; JMESPath (AWS's jmespath, well kept) keeps them. JMESPath has no arithmetic,
so four functions are added: ``multiply``, ``round``, ``lower`` and ``upper``
(``round(multiply(to_number(total_price), `100`))`` gives cents).

A mapping that fails on a payload is a 422 naming the expression and the type it met,
never the value (a payload may hold personal data).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jmespath
from jmespath import exceptions as jmes_errors
from jmespath import functions

from artery.errors import ArteryError, ConfigError
from artery.webhooks.jmespath_closures import Closure, Compiler
from artery.webhooks.schemes import Headers

MappingSpec = str | Path | Callable[..., Any] | None
SUFFIX = ".jmespath"


class MappingFailed(ArteryError):
    """A payload the source's mapping cannot map: 422, naming the expression."""

    code = "artery.mapping-failed"
    http_status = 422


class _Functions(functions.Functions):
    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_multiply(self, a: float, b: float) -> float:
        return a * b

    @functions.signature({"types": ["number"]})
    def _func_round(self, n: float) -> int:
        return round(n)

    @functions.signature({"types": []})
    def _func_to_string(self, value: Any) -> str:
        # the library's json.dumps of an integer, at a tenth of its cost (ids are integers)
        if type(value) is int:
            return str(value)
        result: str = super()._func_to_string(value)
        return result

    @functions.signature({"types": ["string"]})
    def _func_lower(self, s: str) -> str:
        return s.lower()

    @functions.signature({"types": ["string"]})
    def _func_upper(self, s: str) -> str:
        return s.upper()


custom_functions = _Functions()
_COMPILER = Compiler(custom_functions)


class Mapping:
    """A source's mapping, compiled once at declaration."""

    def __init__(self, spec: MappingSpec) -> None:
        self.described = "none (the payload as sent)"
        self._fn: Callable[[Any, Headers], Any] | None = None
        self._expression: Closure | None = None
        if callable(spec):
            self._fn = _two_arguments(spec)
            self.described = f"function {getattr(spec, '__qualname__', repr(spec))}"
        elif spec is not None:
            text, self.described = _expression_text(spec)
            try:
                self._expression = _COMPILER.compile(jmespath.compile(text).parsed)
            except jmes_errors.JMESPathError as exc:
                raise ConfigError(
                    f"mapping {self.described} is not a JMESPath expression: {_first_line(exc)}",
                    fix="check it with `artery sources test NAME payload.json`",
                ) from None

    def __call__(self, payload: Any, headers: Headers) -> Any:
        if self._fn is not None:
            try:
                return self._fn(payload, headers)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise MappingFailed(
                    f"mapping {self.described} failed on this payload ({type(exc).__name__})",
                    fix="correct the payload, or the mapping to accept it",
                ) from None
        if self._expression is None:
            return payload
        try:
            return self._expression(payload)
        except jmes_errors.JMESPathTypeError as exc:
            expected = ", ".join(exc.expected_types)
            raise MappingFailed(
                f"mapping {self.described} failed: {exc.function_name}() expects {expected},"
                f" the payload has {exc.actual_type}",
                fix="correct the payload, or the mapping to accept it",
            ) from None
        except jmes_errors.JMESPathError as exc:
            raise MappingFailed(
                f"mapping {self.described} failed ({type(exc).__name__})",
                fix="correct the payload, or the mapping to accept it",
            ) from None


def _expression_text(spec: str | Path) -> tuple[str, str]:
    """The expression and how errors name it: a file by its path, inline by its text."""
    if isinstance(spec, Path) or spec.endswith(SUFFIX):
        path = Path(spec)
        try:
            return path.read_text(), f"file {str(path)!r}"
        except OSError as exc:
            raise ConfigError(
                f"mapping file {str(path)!r} cannot be read: {exc.strerror}",
                fix="give the path relative to the working directory",
            ) from None
    shown = spec if len(spec) <= 80 else spec[:77] + "..."
    return spec, repr(" ".join(shown.split()))


def _two_arguments(fn: Callable[..., Any]) -> Callable[[Any, Headers], Any]:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return lambda payload, headers: fn(payload)
    if len(parameters) >= 2:
        return fn
    return lambda payload, headers: fn(payload)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = ["Mapping", "MappingFailed", "MappingSpec", "custom_functions"]
