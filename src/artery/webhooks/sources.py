"""A webhook source: where a partner's calls arrive (``/hooks/...``), how they are signed,
what they become (a contract's event, through a mapping), and how often they should come.

Declared with ``integration.webhook_source(...)``; served by ``webhooks.inbound``. A bad
declaration (unknown scheme, a secret written into the code, a path outside ``/hooks``,
an unreadable mapping) fails when it is made, not on the first call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from artery.durations import seconds
from artery.errors import ConfigError
from artery.govern import secrets
from artery.webhooks.generic import Hmac
from artery.webhooks.mapping import Mapping, MappingSpec
from artery.webhooks.schemes import (
    TOLERANCE,
    GitHub,
    Scheme,
    Shopify,
    Slack,
    StandardWebhooks,
    Stripe,
)

if TYPE_CHECKING:
    from artery.integration import Contract

PREFIX = "/hooks"
MAX_BODY = 1 << 20  # 1 MiB
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,99}$")
_PATH = re.compile(r"^/hooks(/[A-Za-z0-9_.\-]+)+$")
SCHEMES = ("standard-webhooks", "svix", "stripe", "github", "shopify", "slack")


@dataclass(frozen=True)
class Source:
    name: str
    path: str
    scheme: Scheme
    secret: tuple[str, ...]  # references (``govern.secrets``), never values
    emits: Contract | str
    mapping: Mapping
    expect_every: float | None
    max_body: int
    integration: str

    @property
    def subject(self) -> str:
        return self.emits if isinstance(self.emits, str) else self.emits.subject


def scheme_of(scheme: str | Scheme, tolerance: str | float | None = None) -> Scheme:
    """A scheme by name (``standard-webhooks``, ``svix``, ``stripe``, ``github``, ``shopify``,
    ``slack``) or as given (``Hmac(...)``)."""
    window = TOLERANCE if tolerance is None else seconds(tolerance)
    if not isinstance(scheme, str):
        return scheme
    named: dict[str, Scheme] = {
        "standard-webhooks": StandardWebhooks(window),
        "standard": StandardWebhooks(window),
        "svix": StandardWebhooks(window),
        "stripe": Stripe(window),
        "github": GitHub(),
        "shopify": Shopify(),
        "slack": Slack(window),
    }
    found = named.get(scheme.lower())
    if found is None:
        raise ConfigError(
            f"webhook scheme {scheme!r} is unknown",
            fix=f"use one of {', '.join(SCHEMES)}, or Hmac(...) for another sender",
        )
    return found


def source(
    name: str,
    *,
    integration: str,
    scheme: str | Scheme,
    secret: secrets.SecretRef,
    emits: Contract | str,
    path: str | None = None,
    mapping: MappingSpec = None,
    expect_every: str | float | None = None,
    max_body: int = MAX_BODY,
    tolerance: str | float | None = None,
) -> Source:
    """A checked ``Source`` (see ``Integration.webhook_source``)."""
    if not _NAME.match(name or ""):
        raise ConfigError(
            f"webhook source name {name!r} is not usable",
            fix="use lower-case letters, digits and . _ -, e.g. shop",
        )
    full = path or f"{PREFIX}/{name}"
    if not full.startswith("/"):
        full = f"{PREFIX}/{full}"
    if not _PATH.match(full):
        raise ConfigError(
            f"webhook source {name!r}: path {full!r} is not under {PREFIX}/",
            fix=f'use e.g. path="{PREFIX}/{name}" (letters, digits and . _ - per segment)',
        )
    every = None if expect_every is None else seconds(expect_every)
    if every is not None and every <= 0:
        raise ConfigError(f"source {name!r}: expect_every must be positive", fix='e.g. "15m"')
    if max_body < 1:
        raise ConfigError(f"source {name!r}: max_body must be positive", fix="e.g. 1048576")
    return Source(
        name=name,
        path=full,
        scheme=scheme_of(scheme, tolerance),
        secret=secrets.references(secret),
        emits=emits,
        mapping=Mapping(mapping),
        expect_every=every,
        max_body=max_body,
        integration=integration,
    )


def describe(found: Source) -> dict[str, Any]:
    """What the admin API and the CLI show of a declaration (no secret, only its name)."""
    return {
        "name": found.name,
        "path": found.path,
        "integration": found.integration,
        "scheme": found.scheme.name,
        "emits": found.subject,
        "mapping": found.mapping.described,
        "secret": [secrets.variable_of(ref) for ref in found.secret],
        "expect_every": found.expect_every,
        "max_body": found.max_body,
    }


def unique(sources: Sequence[Source]) -> None:
    """Refuse two sources on one path."""
    seen: dict[str, str] = {}
    for found in sources:
        other = seen.setdefault(found.path, found.name)
        if other != found.name:
            raise ConfigError(
                f"webhook sources {other!r} and {found.name!r} both listen on {found.path}",
                fix="give each source its own path",
            )


__all__ = [
    "MAX_BODY",
    "PREFIX",
    "SCHEMES",
    "Hmac",
    "MappingSpec",
    "Scheme",
    "Source",
    "describe",
    "scheme_of",
    "source",
]
