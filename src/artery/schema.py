"""Artery's tables: each package's migrations, in the order the store applies them.

This is the one place a package registers its tables. Order follows the layers (a package
comes after those it builds on); a new package (webhooks, keys, audit) appends its
``schema.py`` here and touches neither the runner nor anyone else's versions. Package
names are recorded in every store: never rename one.
"""

from __future__ import annotations

from artery.console import schema as console
from artery.contracts import schema as contracts
from artery.delivery import schema as delivery
from artery.gateway import schema as gateway
from artery.govern import schema as govern
from artery.log import schema as log
from artery.observe import schema as observe
from artery.store.migrations import Schema
from artery.webhooks import schema as webhooks
from artery.workflows import schema as workflows

SCHEMAS: tuple[Schema, ...] = (
    Schema("contracts", contracts.MIGRATIONS),
    Schema("log", log.MIGRATIONS),
    Schema("delivery", delivery.MIGRATIONS),
    Schema("workflows", workflows.MIGRATIONS),
    Schema("gateway", gateway.MIGRATIONS),
    Schema("webhooks", webhooks.MIGRATIONS),
    Schema("observe", observe.MIGRATIONS),
    Schema("govern", govern.MIGRATIONS),
    Schema("console", console.MIGRATIONS),
)
