"""Human durations ("500ms", "10s", "5m", "2h", "2d") and rates ("20/s", "1200/m")."""

from __future__ import annotations

import re
from datetime import timedelta

from artery.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def seconds(value: float | int | str | timedelta) -> float:
    """A duration in seconds; bare numbers are seconds."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float):
        result = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(
                f"bad duration {value!r}", fix="write a number with a unit: 500ms, 10s, 5m, 2h, 2d"
            )
        result = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if result < 0:
        raise ConfigError(f"negative duration {value!r}", fix="use a duration of zero or more")
    return result


def require_seconds(options: str, name: str, value: object, *, zero_ok: bool = False) -> None:
    """Refuse a tuning value that is not a number of seconds above zero (or at least zero),
    naming the option and the class that takes it, e.g. ``WorkerOptions(lease_ttl=...)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        positive = False
    else:
        positive = value >= 0 if zero_ok else value > 0
    if not positive:
        least = "0 or more" if zero_ok else "more than 0"
        raise ConfigError(
            f"{options} option {name}={value!r} is not a number of seconds of {least}",
            fix=f"set {options}({name}=...) to {least}",
        )


def rate(value: str) -> float:
    """Events per second from "20/s", "1200/m", "5/h"."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h|d)\s*$", value)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"bad rate {value!r}", fix="write a positive count per unit: 20/s, 1200/m"
        )
    return float(match.group(1)) / _UNITS[match.group(2)]
