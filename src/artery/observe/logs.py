"""Structured logs: every line a process writes, from Artery, the app, uvicorn or any
library, goes through one structlog chain on the root logger's handler.

Format: JSON lines (one object a line, for a log shipper) when stderr is not a terminal,
structlog's console renderer on a terminal; ``ARTERY_LOG_FORMAT=json|console`` (or
``configure(format=...)``) decides instead. Level: ``ARTERY_LOG_LEVEL`` (default INFO).

Fields: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, the message (``message`` in
JSON), ``exception`` (the traceback as text) when there is one, every ``extra`` field, and
the context bound while something is handled (``observe.log_context``):
``correlation_id``, ``trace_id``, ``integration``, ``event_id``, ``consumer``, ``group``,
``attempt`` for a delivery, ``request_id`` for an HTTP request. Then, last before
rendering, ``observe.log_redaction`` takes out secrets and the event's classified values.

Tracebacks are plain text, never "pretty" ones that print each frame's local variables:
those would hold the payload.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor

from artery.errors import ConfigError
from artery.observe.log_context import merge_scope
from artery.observe.log_redaction import redact

__all__ = ["FORMATS", "configure"]

FORMATS = ("json", "console")
FORMAT_VARIABLE = "ARTERY_LOG_FORMAT"
LEVEL_VARIABLE = "ARTERY_LOG_LEVEL"
_HANDLER = "artery"  # the name of the root handler configure installs


def configure(
    format: str | None = None,
    *,
    level: str | int | None = None,
    stream: TextIO | None = None,
) -> str:
    """Send every log record of the process through Artery's chain to ``stream`` (stderr),
    and return the format chosen. The root logger's handlers are replaced: a process that
    logs in two places would write classified values past the redaction in one of them."""
    out = sys.stderr if stream is None else stream
    chosen, threshold = _format(format, out), _level(level)  # both checked before changes
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER)
    handler.setFormatter(formatter(chosen, colors=chosen == "console" and _tty(out)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    structlog.configure(
        processors=[*_context(), structlog.processors.StackInfoRenderer(), _wrap],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return chosen


def formatter(format: str, *, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of one format, for a handler of one's own (tests, embedding)."""
    renderer: list[Processor]
    if format == "json":
        renderer = [structlog.processors.EventRenamer("message"), _leading, _json]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=colors)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_context(), structlog.stdlib.ExtraAdder(), _stack_text],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # text first, so redaction sees it (and no renderer prints frames' locals)
            structlog.processors.format_exc_info,
            redact,
            *renderer,
        ],
    )


def _context() -> list[Processor]:
    return [
        merge_scope,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


_wrap: Processor = structlog.stdlib.ProcessorFormatter.wrap_for_formatter


def _stack_text(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """A standard record's ``stack_info`` is already text: keep it as ``stack``."""
    stack = event_dict.pop("stack_info", None)
    if isinstance(stack, str):
        event_dict["stack"] = stack
    return event_dict


_FIRST = ("timestamp", "level", "logger", "message")


def _leading(logger: Any, method: str, event_dict: EventDict) -> EventDict:
    """The same fields first on every JSON line, for a person reading them raw."""
    first = {key: event_dict.pop(key) for key in _FIRST if key in event_dict}
    return {**first, **event_dict}


def _dumps(value: Any, **options: Any) -> str:
    return orjson.dumps(value, default=options.get("default"), option=_ORJSON).decode()


_ORJSON = orjson.OPT_NON_STR_KEYS
_json: Processor = structlog.processors.JSONRenderer(serializer=_dumps)


def _format(given: str | None, stream: TextIO) -> str:
    from_env = os.environ.get(FORMAT_VARIABLE, "").strip().lower()
    chosen = (given or from_env or ("console" if _tty(stream) else "json")).lower()
    if chosen not in FORMATS:
        where = "the log format" if given else FORMAT_VARIABLE
        raise ConfigError(
            f"{where} is {chosen!r}, which is not a log format",
            fix=f"use one of: {', '.join(FORMATS)} (unset {FORMAT_VARIABLE} to choose by"
            " whether stderr is a terminal)",
        )
    return chosen


def _level(given: str | int | None) -> int:
    if isinstance(given, int):
        return given
    name = (given or os.environ.get(LEVEL_VARIABLE, "") or "INFO").strip().upper()
    found = logging.getLevelNamesMapping().get(name)
    if found is None:
        raise ConfigError(
            f"log level {name!r} is not a level",
            fix=f"set {LEVEL_VARIABLE} to DEBUG, INFO, WARNING, ERROR or CRITICAL",
        )
    return found


def _tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
