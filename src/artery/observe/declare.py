"""The observability half of ``Integration``: its SLO and its business counters. A mixin,
so the integration stays one object people declare on while its module stays about the
rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from artery.durations import seconds
from artery.errors import ConfigError

if TYPE_CHECKING:
    from artery.observe.metrics import Metrics

_COUNTER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = ("artery_", "events_", "deliveries_", "http_", "workflow_", "webhook_")


@dataclass(frozen=True)
class Slo:
    """An integration's objective: at least ``success`` of its events delivered, each
    within ``sync_within`` of the event's own time (when given), over ``window``.

    An event is *good* when its delivery succeeded in time; *bad* when it was
    dead-lettered or delivered late. The error budget is ``1 - success`` of the window's
    events."""

    integration: str
    success: float
    sync_within: float | None
    window: float

    @property
    def budget(self) -> float:
        """The share of events allowed to be bad."""
        return 1.0 - self.success


@dataclass
class BusinessCounter:
    """A counter an integration names in its own terms (``orders_synced``), exported as
    ``artery_<name>_total{integration=...}``; ``inc`` from a handler."""

    integration: str
    name: str
    description: str
    _metrics: Metrics | None = field(default=None, repr=False)
    _pending: float = field(default=0.0, repr=False)

    @property
    def metric(self) -> str:
        return f"artery_{self.name}_total"

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name} only goes up; inc({amount}) is refused")
        if self._metrics is None:  # the app is not running (a test calling a handler)
            self._pending += amount
            return
        self._metrics.business(self).inc(amount)

    def bind(self, metrics: Metrics | None) -> None:
        """Counts go to ``metrics`` from now on (None: kept until bound again)."""
        self._metrics = metrics
        if metrics is not None and self._pending:
            metrics.business(self).inc(self._pending)
            self._pending = 0.0


class ObserveDeclarations:
    name: str
    slo_declared: Slo | None
    counters: dict[str, BusinessCounter]

    def slo(
        self,
        *,
        success: float,
        sync_within: str | float | None = None,
        window: str | float = "30d",
    ) -> Slo:
        """The integration's service level objective, e.g. ``success=0.999,
        sync_within="5m", window="30d"``: 99.9% of its events delivered, each within five
        minutes of the event's time, over 30 days. One per integration."""
        if self.slo_declared is not None:
            raise ConfigError(
                f"integration {self.name!r} declares an SLO twice",
                fix="declare one slo(...) per integration",
            )
        if not isinstance(success, int | float) or not 0.0 < success < 1.0:
            raise ConfigError(
                f"SLO of {self.name!r}: success={success!r} is not a share between 0 and 1",
                fix="e.g. success=0.999 (99.9% of events delivered)",
            )
        within = None if sync_within is None else seconds(sync_within)
        span = seconds(window)
        if (within is not None and within <= 0) or span < 3600:
            raise ConfigError(
                f"SLO of {self.name!r}: sync_within must be positive and window at least 1h",
                fix='e.g. sync_within="5m", window="30d"',
            )
        self.slo_declared = Slo(self.name, float(success), within, span)
        return self.slo_declared

    def counter(self, name: str, description: str) -> BusinessCounter:
        """A business counter, e.g. ``counter("orders_synced", "Orders written to the
        ERP")``; handlers call ``.inc()`` on what this returns."""
        if not _COUNTER.match(name) or name.startswith(_RESERVED) or name.endswith("_total"):
            raise ConfigError(
                f"counter name {name!r} is not usable",
                fix="use lower_snake_case without the artery_ prefix or _total suffix,"
                " e.g. orders_synced",
            )
        if name in self.counters:
            raise ConfigError(f"counter {name!r} is declared twice", fix="declare it once")
        if not description.strip():
            raise ConfigError(f"counter {name!r} has no description", fix="say what it counts")
        declared = BusinessCounter(self.name, name, description.strip())
        self.counters[name] = declared
        return declared


__all__ = ["BusinessCounter", "ObserveDeclarations", "Slo"]
