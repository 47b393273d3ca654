"""Keeping secrets and classified values out of log lines: one structlog processor, run on
every line after its exception has become text and before the line is rendered.

Two mechanisms, because a value reaches a line in many ways (a message argument, an
f-string, an extra field, an exception's message or its traceback):

- Names. A field whose key names a secret (``password``, ``token``, ``authorization``,
  ``api_key``, ``cookie``, ``signature``...) is replaced by ``[redacted]``, at any depth;
  in text, a ``key=value`` or ``key: value`` pair whose key names one loses its value
  (``Authorization: Bearer ...`` becomes ``Authorization: [redacted]``).
- Values. While an event is handled, the values at its contract's ``pii`` and ``secret``
  fields (bound with ``classified``, by ``LogContext``) are replaced wherever they appear
  in the line's strings, keys included, as ``govern.redaction`` scrubs stored errors.
  They are found only when a line is written, once per binding: an attempt that logs
  nothing pays for no walk of its payload.

Nothing is bound outside a delivery, so a line there pays for the name checks alone.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar, Token
from typing import Any

from structlog.typing import EventDict

from artery.govern import REDACTED, Redactor

__all__ = [
    "REDACTED",
    "bind",
    "classified",
    "names_secret",
    "redact",
    "scrub_text",
    "unbind",
]

_WORDS = (
    r"passw(?:or)?d|passphrase|secret|token|authori[sz]ation|api[_-]?key|cookie|signature"
    r"|credential|private[_-]?key"
)
_SECRET_NAME = re.compile(_WORDS, re.IGNORECASE)
# key (any word around a secret's name), separator, then the value: quoted, or up to a
# delimiter; an auth scheme before it goes too. A value already redacted is left alone.
_SECRET_PAIR = re.compile(
    rf"""([\w.-]*(?:{_WORDS})[\w.-]*)(["']?\s*[:=]\s*)(?!\[redacted\])"""
    r"""((?:(?:bearer|basic|digest|token)\s+)?(?:"[^"]*"|'[^']*'|[^\s,;&)}\]"']+))""",
    re.IGNORECASE,
)
# the rendered message and traceback may end inside a value (a message cut to a length):
# those get the tail check too, the other fields only the exact match
_TEXTS = frozenset({"event", "exception", "stack"})


class _Classified:
    """The classified values of one payload, found on the first line that needs them."""

    def __init__(self, data: Any, paths: Collection[str] | None) -> None:
        self.data = data
        # unknown contract: nothing is known safe, every value of the payload is scrubbed
        self.paths = [""] if paths is None else list(paths)

    @functools.cached_property
    def redactor(self) -> Redactor | None:
        found = Redactor.of(self.data, self.paths)
        return found if found.pattern is not None else None


_current: ContextVar[_Classified | None] = ContextVar("artery_log_classified", default=None)


def bind(data: Any, paths: Collection[str] | None) -> Token[_Classified | None]:
    """From now on, lines have the values of ``data`` at ``paths`` (the contract's
    sensitive paths; None: the contract is unknown, so all of them) scrubbed out, until
    ``unbind`` with the token returned."""
    nothing = paths is not None and not paths
    return _current.set(None if nothing else _Classified(data, paths))


def unbind(token: Token[_Classified | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def classified(data: Any, paths: Collection[str] | None) -> Iterator[None]:
    """``bind`` while inside, restored on leaving."""
    token = bind(data, paths)
    try:
        yield
    finally:
        unbind(token)


def names_secret(key: object) -> bool:
    """Whether a field named ``key`` holds a secret (its value is never written)."""
    return isinstance(key, str) and _SECRET_NAME.search(key) is not None


def scrub_text(text: str, redactor: Redactor | None = None, *, tail: bool = False) -> str:
    """``text`` with secret ``key=value`` pairs and ``redactor``'s values cut out."""
    if _SECRET_NAME.search(text) is not None:
        text = _SECRET_PAIR.sub(rf"\1\2{REDACTED}", text)
    if redactor is None:
        return text
    if tail:
        return redactor.text(text)
    pattern = redactor.pattern
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """The processor: every field of the line, redacted (see the module docstring)."""
    bound = _current.get()
    redactor = None if bound is None else bound.redactor
    cleaned: dict[str, Any] = {}
    for key, value in event_dict.items():
        name = _key(key, redactor)
        if names_secret(key):
            cleaned[name] = REDACTED
        elif isinstance(value, str):
            cleaned[name] = scrub_text(value, redactor, tail=key in _TEXTS)
        else:
            cleaned[name] = _clean(value, redactor)
    return cleaned


def _key(key: Any, redactor: Redactor | None) -> Any:
    return key if redactor is None or not isinstance(key, str) else scrub_text(key, redactor)


def _clean(value: Any, redactor: Redactor | None) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return scrub_text(value, redactor)
    if isinstance(value, int | float):
        pattern = None if redactor is None else redactor.pattern
        return REDACTED if pattern is not None and pattern.fullmatch(str(value)) else value
    if isinstance(value, Mapping):
        return {
            _key(str(k), redactor): REDACTED if names_secret(k) else _clean(v, redactor)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, redactor) for item in value]
    return scrub_text(repr(value), redactor)  # what a renderer would write: its repr
