"""Classification-driven redaction: one place that decides what of a payload a person sees.

A contract classifies fields ``pii`` or ``secret``. Wherever a payload is shown (a dead
letter's event, a workflow's input, results and errors stored with them) the values at
those fields are replaced by ``"[redacted]"``. Values also escape their fields: a handler's
exception message quotes the card number, a step returns the customer's email. So the
values found at classified fields of a payload are scrubbed out of every text and result
stored or shown with that payload, too.

When the contract is unknown nothing is known safe: the payload is hidden whole, and so
is every result shown with it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.contracts import Registry
from artery.contracts.classification import is_sensitive_pointer, sensitive_paths
from artery.errors import UnknownContract, UnknownTopic

if TYPE_CHECKING:
    from artery.log import EventLog

REDACTED = "[redacted]"
MIN_SCRUBBED = 3  # shorter classified values (a gender letter, a country code) identify no
# one and would shred every message they occur in; fields still redact them.


def redact(data: Any, sensitive: Collection[str]) -> tuple[Any, list[str]]:
    """A copy of ``data`` with every value at or under a sensitive path replaced by
    ``"[redacted]"``, and the concrete pointers that were replaced.

    Paths are the classification's JSON pointers (``*`` = any index or property name);
    the input is never modified."""
    paths = list(sensitive)
    replaced: list[str] = []

    def walk(node: Any, pointer: str) -> Any:
        if paths and is_sensitive_pointer(pointer, paths):
            replaced.append(pointer)
            return REDACTED
        if isinstance(node, Mapping):
            return {key: walk(value, f"{pointer}/{_escape(key)}") for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, f"{pointer}/{index}") for index, value in enumerate(node)]
        return node

    return walk(data, ""), replaced


def classified_values(data: Any, sensitive: Collection[str]) -> frozenset[str]:
    """The text of every scalar at or under a sensitive path of ``data``, as it would
    appear in a message (numbers as written, strings as they are)."""
    paths = list(sensitive)
    found: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, Mapping):
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)
        elif isinstance(node, str | int | float) and not isinstance(node, bool):
            found.add(str(node))

    def walk(node: Any, pointer: str) -> None:
        if is_sensitive_pointer(pointer, paths):
            collect(node)
        elif isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{pointer}/{_escape(key)}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{pointer}/{index}")

    if paths:
        walk(data, "")
    return frozenset(value for value in found if len(value) >= MIN_SCRUBBED)


def _escape(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Redactor:
    """What to hide when showing one payload and what was stored with it.

    ``paths`` are the payload contract's sensitive paths, or None when the contract is
    unknown (then everything is hidden); ``values`` are the classified values found in
    the payload, scrubbed out of texts and results."""

    paths: tuple[str, ...] | None
    values: frozenset[str]

    @classmethod
    def of(cls, payload: Any, paths: Iterable[str] | None) -> Redactor:
        if paths is None:
            return cls(None, frozenset())
        kept = tuple(paths)
        return cls(kept, classified_values(payload, kept))

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if not self.values:
            return None
        ordered = sorted(self.values, key=len, reverse=True)  # longest first: no partial leak
        return re.compile("|".join(re.escape(value) for value in ordered))

    def payload(self, data: Any) -> tuple[Any, list[str]]:
        """The payload itself, its classified fields redacted (all of it if unknown)."""
        return redact(data, [""] if self.paths is None else self.paths)

    def text(self, text: str) -> str:
        pattern = self.pattern
        return text if pattern is None else pattern.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """A result stored with the payload: hidden whole if the contract is unknown,
        otherwise with every classified value of the payload scrubbed out of it."""
        if self.paths is None:
            return None if value is None else REDACTED
        pattern = self.pattern
        return value if pattern is None else _scrub(value, pattern)

    def error(self, error: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A stored error (type, message, traceback of file:line, and nested errors such
        as the one a compensation met): every message scrubbed."""
        if error is None:
            return None
        shown: dict[str, Any] = {}
        for key, item in error.items():
            if key == "message" and isinstance(item, str):
                shown[key] = self.text(item)
            elif isinstance(item, Mapping):
                shown[key] = self.error(item)
            else:
                shown[key] = item
        return shown


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            pattern.sub(REDACTED, str(key)): _scrub(item, pattern) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, pattern) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return REDACTED if pattern.fullmatch(str(value)) else value
    return value


async def sensitive_paths_of(registry: Registry, subject: str) -> list[str] | None:
    """Sensitive paths in any version of ``subject`` (a payload may have been written
    under an older version); None when the contract is unknown, so nothing is known safe."""
    try:
        versions = await registry.versions(subject)
    except UnknownContract:
        return None
    found: set[str] = set()
    for version in versions:
        found.update(sensitive_paths(version.schema))
    return sorted(found)


async def topic_redactor(log: EventLog, topic: str | None, data: Any) -> Redactor:
    """The redactor of an event read from ``topic``: by the contract the topic carries,
    never by the ``type`` its producer claimed. Unknown topic or contract: hide it all."""
    subject: str | None = None
    if topic is not None:
        with contextlib.suppress(UnknownTopic):
            subject = (await log.topic(topic)).subject
    paths = None if subject is None else await sensitive_paths_of(log.registry, subject)
    return Redactor.of(data, paths)
