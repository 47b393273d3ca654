"""The commerce integrations: a shop's orders become invoices in the ERP, customer updates
in the CRM and a fulfilment saga over payments and the warehouse.

Read it top to bottom; each block names the playbook principle it shows. Run it with
``artery run app:app`` from this directory, or watch it against misbehaving partners with
``make demo`` (``demo.py``). Partners' addresses come from ``COMMERCE_PARTNERS`` (the
simulated ones in ``partners.py``); secrets from ``ARTERY_SECRET_*``, never from code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from artery import (
    App,
    Call,
    DeliveryContext,
    Event,
    Integration,
    Permanent,
    Reply,
    Retry,
    RetryLater,
    SignalTimeout,
    Split,
    WorkflowContext,
    current_step,
)

HERE = Path(__file__).parent
PARTNERS = os.environ.get("COMMERCE_PARTNERS", "http://127.0.0.1:9100")
LARGE = 1000.0  # orders above this total wait for a person's approval
APPROVAL_WITHIN = os.environ.get("COMMERCE_APPROVAL_WITHIN", "20s")

app = App("commerce")

# -- 1. The shop: vendor semantics stop at the edge ----------------------------------------
# The shop's webhook is verified (Shopify's HMAC), deduplicated by its webhook id, mapped to
# the canonical contract and validated; a bad signature or a malformed order is refused with
# its reason on record (``artery status``, the console's Webhooks page). A source silent for
# longer than ``expect_every`` is flagged.

shop = Integration(
    "shop",
    owner="team-orders",
    transport_owner="team-platform",
    purpose="receive the shop's orders and publish them in the company's own words",
    partners=["shop"],
    runbook="https://wiki.example.com/runbooks/shop",
)
OrderPlaced = shop.contract(
    "commerce.order.placed",
    schema=HERE / "contracts" / "order_placed.json",
    owner="team-orders",
    compatibility="backward",
    partitions=4,
)
shop.webhook_source(
    "shop",
    path="/hooks/shop",
    scheme="shopify",
    secret="shop-hook",
    emits=OrderPlaced,
    mapping=HERE / "mappings" / "shop_order.jmespath",
    expect_every=os.environ.get("COMMERCE_SHOP_EXPECTED_EVERY", "5s"),
)

# -- 2. The ERP: retries with jitter, idempotency, rate limit, breaker, dead letters -------

erp = Integration(
    "erp-sync",
    owner="team-finance",
    transport_owner="team-platform",
    purpose="post an invoice for every order",
    partners=["erp"],
    runbook="https://wiki.example.com/runbooks/erp-sync",
)
invoices_posted = erp.counter("invoices_posted", "Invoices the ERP accepted")
erp.slo(success=0.99, sync_within="60s", window="1d")


@erp.consumer(
    OrderPlaced,
    group="erp-invoices",
    retry=Retry(attempts=12, base="200ms", cap="3s"),
    rate_limit="erp:15/s",
    breaker="erp",
    timeout="5s",
    partner="erp",
)
async def post_invoice(event: Event, ctx: DeliveryContext) -> None:
    """One invoice per order: the idempotency key makes a retried post land once."""
    order = event.data
    answer = await partner().post(
        "/erp/invoices",
        json={
            "order_id": order["order_id"],
            "amount": order["total"],
            "currency": order["currency"],
        },
        headers={"Idempotency-Key": ctx.idempotency_key},
    )
    if answer.status_code == 429:
        raise RetryLater(float(answer.headers.get("retry-after", "1")), "ERP rate limit")
    if answer.status_code in (400, 422):
        raise Permanent(f"the ERP refused the invoice: {answer.text[:200]}")
    answer.raise_for_status()  # 5xx: an attempt failed, retried with backoff and jitter
    invoices_posted.inc()


# -- 3. The CRM: outbound webhooks, signed (Standard Webhooks), retried, disabled on 410 ---

crm = Integration(
    "crm-sync",
    owner="team-sales",
    transport_owner="team-platform",
    purpose="tell the CRM about every order",
    partners=["crm"],
)
crm.webhook_destination(
    "crm", url=f"{PARTNERS}/crm/hooks/orders", events=["commerce.order.*"], secret="crm-hook"
)
crm.webhook_destination(  # a retired endpoint: it answers 410 and is disabled at once
    "crm-legacy",
    url=f"{PARTNERS}/crm/hooks/legacy",
    events=["commerce.order.placed"],
    secret="crm-hook",
)
crm.slo(success=0.99, sync_within="60s", window="1d")

# -- 4. Fulfilment: a saga with compensations, a person's approval, a timeout --------------

fulfilment = Integration(
    "fulfilment",
    owner="team-operations",
    transport_owner="team-platform",
    purpose="charge, reserve and ship each order, or undo what was done",
    partners=["payments", "warehouse"],
)


@fulfilment.workflow(on=OrderPlaced)
async def fulfil(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    """Authorize, reserve, (a person approves large orders), capture. A failure or a
    refusal undoes the steps already done, newest first: release, then void."""
    retry = Retry(attempts=6, base="200ms", cap="2s")
    auth = await ctx.step(authorize, order, retry=retry, compensate=void)
    reservation = await ctx.step(reserve, order, retry=retry, compensate=release)
    if order["total"] > LARGE:
        try:
            decision = await ctx.wait_for_signal("approval", timeout=APPROVAL_WITHIN)
        except SignalTimeout:
            decision = "timed out"
        if decision != "approve":
            ctx.compensate()
    captured = await ctx.step(capture, auth, retry=retry)
    return {"authorization": auth, "reservation": reservation, "captured": captured}


async def authorize(order: dict[str, Any]) -> str:
    body = {"order_id": order["order_id"], "amount": order["total"], "currency": order["currency"]}
    return str((await call("/payments/authorize", body)).json()["authorization_id"])


async def void(auth: str, order: dict[str, Any]) -> None:
    await call("/payments/void", {"authorization_id": auth})


async def reserve(order: dict[str, Any]) -> str:
    items = [{"sku": line["sku"], "quantity": line["quantity"]} for line in order["lines"]]
    body = {"order_id": order["order_id"], "items": items}
    return str((await call("/warehouse/reserve", body)).json()["reservation_id"])


async def release(reservation: str, order: dict[str, Any]) -> None:
    await call("/warehouse/release", {"reservation_id": reservation})


async def capture(auth: str) -> bool:
    await call("/payments/capture", {"authorization_id": auth})
    return True


async def call(path: str, body: dict[str, Any]) -> httpx.Response:
    """A step's call to a partner: the step's idempotency key is stable across its retries,
    so a call that timed out after the partner acted is not acted on twice."""
    answer = await partner().post(
        path, json=body, headers={"Idempotency-Key": current_step().idempotency_key}
    )
    if answer.status_code in (400, 404, 409, 422):  # out of stock, refused: no use retrying
        raise Permanent(f"{path} refused: {answer.status_code} {answer.text[:200]}")
    answer.raise_for_status()
    return answer


# -- 5. The legacy order export: strangled, a share of calls served by the new handler ------

reporting = Integration(
    "reporting",
    owner="team-finance",
    purpose="the order export accounting downloads, moving off the legacy system",
    partners=["legacy"],
)


@reporting.route(
    "GET",
    "/orders/export",
    scopes=["orders:read"],
    upstream=f"{PARTNERS}/legacy",
    split=Split(percent=25),
)
async def export_orders(call: Call) -> Reply:
    """The replacement export: a quarter of the calls come here, the rest to the legacy."""
    return Reply(200, {"orders": [], "source": "artery"})


app.include(shop, erp, crm, fulfilment, reporting)

_client: httpx.AsyncClient | None = None


def partner() -> httpx.AsyncClient:
    """One HTTP client for every partner call of this process (its connections are pooled).
    The timeout is short on purpose: a partner that hangs costs a retry, not a worker."""
    global _client
    if _client is None:
        _client = httpx.AsyncClient(base_url=PARTNERS, timeout=1.5)
    return _client
