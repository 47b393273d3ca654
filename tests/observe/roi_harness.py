"""An app for the ROI report's tests: ``erp-sync`` posts invoices to a partner the test
breaks and mends, ``crm-sync`` waits for a first lead that never comes, and an approval
workflow waits for a person's signal. Served on a free port with its admin API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from artery import App, DeliveryContext, Event, Integration, Listen, Retry, WorkerOptions
from artery.workflows import WorkflowContext
from support import admin_client

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
FAST = {"lease_ttl": 2.0, "poll_interval": 0.02, "commit_interval": 0.02, "retry_poll": 0.03}


@dataclass
class Partner:
    """The ERP: refuses every call while ``down``."""

    down: bool = False
    handled: list[int] = field(default_factory=list)


@dataclass
class Running:
    app: App
    erp: Partner
    admin: httpx.AsyncClient  # /admin, every admin scope, key named "tests"

    async def report(self, since: str = "1h") -> dict[str, Any]:
        answer = await self.admin.get("/report", params={"since": since})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def interventions(self) -> list[tuple[Any, ...]]:
        return await self.app.store.read(
            lambda tx: tx.execute(
                "SELECT kind, integration, actor, detail FROM interventions ORDER BY id"
            )
        )


def roi_app(store_url: str, erp: Partner, retry: Retry) -> App:
    app = App("roi-test", store=store_url)
    app.worker_options = WorkerOptions(**FAST)
    erp_sync = Integration("erp-sync", owner="team-erp", partners=["erp"])
    orders = erp_sync.contract("orders", schema=ORDER, partitions=2)

    @erp_sync.consumer(orders, group="erp", retry=retry)
    async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
        if erp.down:
            raise ConnectionError("the ERP is down")
        erp.handled.append(event.data["n"])

    @erp_sync.workflow()
    async def approve(ctx: WorkflowContext, order: Any) -> Any:
        return await ctx.wait_for_signal("approval", timeout="1h")

    crm_sync = Integration("crm-sync", owner="team-crm", partners=["crm"])
    leads = crm_sync.contract("leads", schema=ORDER)

    @crm_sync.consumer(leads, group="crm", retry=Retry(attempts=1))
    async def post_lead(event: Event, ctx: DeliveryContext) -> None:
        pass

    app.include(erp_sync, crm_sync)
    return app


@contextlib.asynccontextmanager
async def running(
    store_url: str, erp: Partner, retry: Retry | None = None
) -> AsyncIterator[Running]:
    """Served on a free port; ``retry`` is erp-sync's (default: one attempt, then dead)."""
    app = roi_app(store_url, erp, retry or Retry(attempts=1))
    async with app.running("run", listen=Listen("127.0.0.1", 0)):
        assert app.http is not None
        async with await admin_client(app, app.http.url + "/admin") as admin:
            yield Running(app, erp, admin)
