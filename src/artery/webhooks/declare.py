"""The webhook half of ``Integration``: declaring sources (webhooks in) and destinations
(webhooks out). A mixin, so the integration stays one object people declare on while its
module stays about the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from artery.errors import ConfigError
from artery.webhooks import destinations as webhook_destinations
from artery.webhooks import sources as webhook_sources

if TYPE_CHECKING:
    from artery.integration import Contract


class WebhookDeclarations:
    name: str
    sources: dict[str, webhook_sources.Source]
    destinations: dict[str, webhook_destinations.Destination]

    def webhook_source(
        self,
        name: str,
        *,
        scheme: str | webhook_sources.Scheme,
        secret: str | Sequence[str],
        emits: Contract | str,
        path: str | None = None,
        mapping: webhook_sources.MappingSpec = None,
        expect_every: str | float | None = None,
        max_body: int = webhook_sources.MAX_BODY,
        tolerance: str | float | None = None,
    ) -> webhook_sources.Source:
        """Receive a partner's webhook at ``path`` (default ``/hooks/<name>``): verify it
        by ``scheme`` with the named ``secret`` (``"shop-hook"`` reads
        ``ARTERY_SECRET_SHOP_HOOK``), map it (a JMESPath expression or file, or a function)
        and publish it as an event of ``emits``. ``expect_every="15m"`` reports the source
        silent when no valid call came for longer."""
        if name in self.sources:
            raise ConfigError(f"webhook source {name!r} is declared twice", fix="declare it once")
        declared = webhook_sources.source(
            name,
            integration=self.name,
            scheme=scheme,
            secret=secret,
            emits=emits,
            path=path,
            mapping=mapping,
            expect_every=expect_every,
            max_body=max_body,
            tolerance=tolerance,
        )
        self.sources[name] = declared
        return declared

    def webhook_destination(
        self,
        name: str,
        *,
        url: str,
        events: Sequence[str],
        secret: str | Sequence[str],
        filter: str | None = None,
        rate_limit: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        ordered: bool = False,
        schedule: Sequence[float | str] | None = None,
        timeout: float | str = 15.0,
        disable_after: float | str = webhook_destinations.DISABLE_AFTER,
    ) -> webhook_destinations.Destination:
        """Deliver events whose type matches ``events`` (``*`` wildcards) to ``url``,
        signed per Standard Webhooks with the named ``secret`` (a ``whsec_`` value, or
        ``whsk_`` for ed25519; several during a rotation), through the address guard, on
        the delivery engine (``artery.webhooks.outbound``)."""
        if name in self.destinations:
            raise ConfigError(
                f"webhook destination {name!r} is declared twice", fix="declare it once"
            )
        declared = webhook_destinations.destination(
            name,
            url=url,
            events=events,
            secret=secret,
            filter=filter,
            rate_limit=rate_limit,
            headers=headers,
            ordered=ordered,
            schedule=schedule,
            timeout=timeout,
            disable_after=disable_after,
            integration=self.name,
        )
        self.destinations[name] = declared
        return declared
