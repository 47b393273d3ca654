"""Secrets are named in code, never written there.

``secret="shop-hook"`` reads the environment variable ``ARTERY_SECRET_SHOP_HOOK`` when the
app starts; ``secret="env:SHOP_WEBHOOK_SECRET"`` names any variable. A variable may hold
several secrets separated by whitespace, and ``secret=[...]`` may name several references:
every one found is valid at once, which is how a rotation overlaps (add the new secret,
tell the partner, remove the old one). Errors name the variable, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from artery.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what vendors' secrets start with: such a "name" is a secret pasted into the code
_SECRET_LIKE = re.compile(r"^(whsec_|whsk_|whpk_|sk_|rk_|shpss_|shpat_|ghp_|xox[abpr]-)")

SecretRef = str | Sequence[str]


def variable_of(ref: str) -> str:
    """The environment variable a secret reference reads."""
    if ref.startswith("env:"):
        name = ref[4:]
        if not _VARIABLE.match(name):
            raise ConfigError(
                f"secret reference {ref!r} does not name an environment variable",
                fix='write "env:NAME" with letters, digits and underscores',
            )
        return name
    if not _NAME.match(ref) or _SECRET_LIKE.match(ref) or len(ref) > 64:
        raise ConfigError(
            "a secret reference must name the secret, not hold it",
            fix='name it (secret="shop-hook" reads ARTERY_SECRET_SHOP_HOOK) or write'
            ' "env:VARIABLE"',
        )
    return "ARTERY_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", ref).upper()


def references(refs: SecretRef) -> tuple[str, ...]:
    """``refs`` as a checked tuple (at declaration, so a bad one fails early)."""
    listed = (refs,) if isinstance(refs, str) else tuple(refs)
    if not listed:
        raise ConfigError("no secret is named", fix='name at least one: secret="shop-hook"')
    for ref in listed:
        variable_of(ref)
    return listed


def resolve(refs: SecretRef, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every secret the references name, in order; refuses when none is set."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    for ref in references(refs):
        found.extend(env.get(variable_of(ref), "").split())
    if not found:
        names = " or ".join(variable_of(ref) for ref in references(refs))
        raise ConfigError(
            f"the secret is not set: {names} is empty or missing",
            fix=f"set {names} in the environment of every process that serves it",
        )
    return tuple(dict.fromkeys(found))


__all__ = ["SecretRef", "references", "resolve", "variable_of"]
