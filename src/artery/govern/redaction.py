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
import functools
import logging
import re
from collections.abc import Awaitable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.contracts.classification import is_sensitive_pointer
from artery.errors import UnknownTopic
from artery.health import describe

if TYPE_CHECKING:
    from artery.contracts import Registry
    from artery.log import EventLog

log = logging.getLogger("artery.govern")
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
    blind: bool = False  # what is classified could not be learned: hide every text

    @classmethod
    def blind_one(cls) -> Redactor:
        return cls(None, frozenset(), blind=True)

    @classmethod
    def of(cls, payload: Any, paths: Iterable[str] | None) -> Redactor:
        if paths is None:
            return cls(None, frozenset())
        kept = tuple(paths)
        return cls(kept, classified_values(payload, kept))

    @functools.cached_property
    def pattern(self) -> re.Pattern[str] | None:
        if not self.values:
            return None
        ordered = sorted(self.values, key=len, reverse=True)  # longest first: no partial leak
        return re.compile("|".join(re.escape(value) for value in ordered))

    def payload(self, data: Any) -> tuple[Any, list[str]]:
        """The payload itself, its classified fields redacted (all of it if unknown)."""
        return redact(data, [""] if self.paths is None else self.paths)

    def text(self, text: str) -> str:
        if self.blind:
            return REDACTED
        pattern = self.pattern
        if pattern is None:
            return text
        return self._cut_tail(pattern.sub(REDACTED, text))

    def _cut_tail(self, text: str) -> str:
        """A message cut to a length may end inside a classified value (``... paid by
        alice@exa``): such a tail of at least ``MIN_SCRUBBED`` characters goes too."""
        cut = len(text)
        for value in self.values:
            i = text.find(value[0], max(len(text) - len(value) + 1, 0))
            while i != -1 and len(text) - i >= MIN_SCRUBBED:
                if value.startswith(text[i:]):
                    cut = min(cut, i)
                    break
                i = text.find(value[0], i + 1)
        return text if cut == len(text) else text[:cut] + REDACTED

    def envelope(self, envelope: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """An event's CloudEvents attributes for a page: ``data`` redacted by its contract,
        and every other attribute scrubbed of the classified values (a producer may key an
        event by an email, or name it in ``subject``). Returns the paths redacted."""
        shown: dict[str, Any] = {}
        hidden: list[str] = []
        for name, item in envelope.items():
            if name == "data":
                shown[name], hidden = self.payload(item)
            elif isinstance(item, str):
                shown[name] = self.value(item) if self.paths is not None else self.text(item)
            else:
                shown[name] = item
        return shown, hidden

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


async def topic_redactor(log: EventLog, topic: str | None, data: Any) -> Redactor:
    """The redactor of an event read from ``topic``: by the contract the topic carries,
    never by the ``type`` its producer claimed. Unknown topic or contract: hide it all."""
    return Redactor.of(data, await topic_paths(log, topic))


async def topic_paths(log: EventLog, topic: str | None) -> list[str] | None:
    """The sensitive paths of the contract ``topic`` carries (any version); None when the
    topic or its contract is unknown. Both look-ups are cached in memory."""
    subject: str | None = None
    if topic is not None:
        with contextlib.suppress(UnknownTopic):
            subject = (await log.topic(topic)).subject
    return None if subject is None else await log.registry.sensitive_paths_anywhere(subject)


async def contract_redactor(
    registry: Registry, subject: str | None, data: Any, *, known: bool = True
) -> Redactor:
    """The redactor of a payload that follows ``subject``'s contract (the classified fields
    of every version, since the payload may predate the latest). ``known=False``: which
    contract applies cannot be learned here, so nothing is known safe and it is hidden
    whole; ``subject=None`` (declared without a contract) shows it as given."""
    if not known:
        return Redactor.of(data, None)
    if subject is None:
        return Redactor.of(data, [])
    return Redactor.of(data, await registry.sensitive_paths_anywhere(subject))


async def for_storing(lookup: Awaitable[Redactor]) -> Redactor:
    """The redactor for error text about to be stored. If the classification cannot be
    learned now (the store is down), the text is hidden rather than risked: the failure
    path must not fail, and must not leak."""
    try:
        return await lookup
    except Exception as exc:
        log.warning(
            "classification unavailable (%s); error text stored as [redacted]", describe(exc)
        )
        return Redactor.blind_one()
