"""The app ``bench/console.py`` fills and serves: three integrations, as a small company's.

* ``shop-sync`` (team-orders): ``shop.order.placed`` orders, with a ``pii`` email, posted to
  the ERP by the ``erp-invoices`` consumer, which refuses orders marked ``refuse`` (one
  attempt, then a dead letter); the ``fulfil`` workflow reserves stock, then waits for a
  manager's approval when an order is large (``approval``), fails when it is marked
  ``fail``, and otherwise completes.
* ``crm-sync`` (team-crm): ``crm.customer.updated`` customers (``pii`` email and phone)
  indexed by the ``crm-search`` consumer.
* ``billing`` (team-finance): ``billing.invoice.issued`` invoices, archived by
  ``billing-archive``.

Every integration declares an SLO, so the health page and ``/admin/slos`` have budgets to
compute. ``shop_app(store)`` builds a fresh app each time: the bench fills the store with
one (role ``run``) and serves it with another (role ``gateway``).
"""

from __future__ import annotations

from typing import Any

from artery import App, DeliveryContext, Event, Integration, Retry, Settings, WorkerOptions
from artery.workflows import WorkflowContext

ORDER = "shop.order.placed"
CUSTOMER = "crm.customer.updated"
INVOICE = "billing.invoice.issued"
WORKFLOW = "fulfil"
GROUP = "erp-invoices"
REFUSED = "ERP refused the order: unknown VAT code"

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id", "total"],
    "properties": {
        "order_id": {"type": "string"},
        "total": {"type": "number"},
        "email": {"type": "string", "x-artery-classification": "pii"},
        "note": {"type": "string"},
        "lines": {"type": "array", "items": {"type": "object"}},
    },
}
CUSTOMER_SCHEMA = {
    "type": "object",
    "required": ["customer_id"],
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string", "x-artery-classification": "pii"},
        "phone": {"type": "string", "x-artery-classification": "pii"},
    },
}
INVOICE_SCHEMA = {
    "type": "object",
    "required": ["invoice_id", "amount"],
    "properties": {"invoice_id": {"type": "string"}, "amount": {"type": "number"}},
}
FAST = WorkerOptions(lease_ttl=5.0, poll_interval=0.02, commit_interval=0.05, retry_poll=0.05)


def shop_app(store: str) -> App:
    app = App("bench-console", settings=Settings(store=store))
    app.worker_options = FAST
    app.include(_shop())
    app.include(_crm())
    app.include(_billing())
    return app


def _shop() -> Integration:
    shop = Integration(
        "shop-sync",
        owner="team-orders",
        transport_owner="team-platform",
        purpose="post an invoice to the ERP for every order",
        partners=["erp", "shopify"],
        runbook="https://wiki.example.com/runbooks/shop-sync",
    )
    orders = shop.contract(
        ORDER,
        schema=ORDER_SCHEMA,
        owner="team-orders",
        compatibility="backward",
        examples=[{"order_id": "o-1", "total": 12.5, "email": "a@example.com"}],
        partitions=4,
    )
    shop.slo(success=0.99, sync_within="5m", window="7d")

    shop.consumer(orders, group=GROUP, retry=Retry(attempts=1))(post_invoice)
    shop.workflow(name=WORKFLOW)(fulfil)
    return shop


async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
    if event.data.get("note") == "refuse":
        raise ValueError(REFUSED)


async def fulfil(ctx: WorkflowContext, order: Any) -> Any:
    reserved = await ctx.step(reserve, order, retry=Retry(attempts=1))
    if order.get("note") == "approval":
        decision = await ctx.wait_for_signal("manager-approval", timeout="1d")
        return {"reserved": reserved, "approved": decision == "approve"}
    return {"reserved": reserved}


async def reserve(order: Any) -> str:
    if order.get("note") == "fail":
        raise RuntimeError("the warehouse has no stock for this order")
    return f"reserved {order.get('order_id')}"


def _crm() -> Integration:
    crm = Integration(
        "crm-sync",
        owner="team-crm",
        purpose="keep the CRM's search index current",
        partners=["salesforce"],
        runbook="https://wiki.example.com/runbooks/crm-sync",
    )
    customers = crm.contract(CUSTOMER, schema=CUSTOMER_SCHEMA, owner="team-crm", partitions=2)
    crm.slo(success=0.999, window="7d")

    crm.consumer(customers, group="crm-search")(index_customer)
    return crm


def _billing() -> Integration:
    billing = Integration(
        "billing",
        owner="team-finance",
        purpose="archive every invoice issued",
        partners=["datev"],
    )
    invoices = billing.contract(INVOICE, schema=INVOICE_SCHEMA, owner="team-finance")
    billing.slo(success=0.999, window="30d")

    billing.consumer(invoices, group="billing-archive")(archive)
    return billing


async def index_customer(event: Event, ctx: DeliveryContext) -> None:
    return None


async def archive(event: Event, ctx: DeliveryContext) -> None:
    return None
