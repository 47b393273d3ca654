"""Simulated partners for the commerce demo: one process, one asyncio loop, real HTTP.

The demo driver starts this beside ``artery run``. Each partner misbehaves the way real ones
do, deterministically for a given ``--seed``, so each failure in the playbook gets exercised:

- **Shop** (a client): posts Shopify-signed ``orders/create`` webhooks to Artery's
  ``/hooks/shop`` at a set rate, with duplicate deliveries (dedupe by webhook id), bad
  signatures (verify before parsing), malformed bodies (reject at the edge, with a reason),
  large orders (a person approves them) and a silent stretch (the silent-source alert). Like
  Shopify it resends a delivery, with the same webhook id, after a 5xx or a network error.
- **Payments**: authorize, capture, void, refund. Honours ``Idempotency-Key``, and is sometimes
  slower than Artery's timeout *after* acting, so a retry must not charge twice.
- **ERP**: takes invoices. Rate-limits (429 with ``Retry-After``), fails in bursts of 500s and
  goes down for a stretch on request (retries with backoff, rate limits, breakers, dead
  letters).
- **CRM**: receives Artery's outbound webhooks and verifies them with the ``standardwebhooks``
  library (signed deliveries that receivers dedupe). Its retired endpoint answers 410: a
  destination that is gone is disabled, not retried forever.
- **Legacy export**: the old order export that the gateway's strangler route serves beside
  its replacement.
- **Warehouse**: reserves and releases stock (a saga step and its compensation). A few orders
  are out of stock (409), so the saga must void their authorization.

``GET /_control/stats`` returns every counter, so the driver can check the books.

    python examples/commerce/partners.py --port 8090 --artery http://127.0.0.1:8080 \\
        --shop-secret SECRET --crm-secret whsec_... [--seed 18]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import random
import signal
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import orjson
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SHOP_DOMAIN = "artery-demo.myshopify.com"
FIRST_ORDER_ID = 5_100_000_000  # Shopify order ids are large integers; names start at #1001
DUPLICATE_RATE = 0.05  # chance an order is followed by a resend of a recent valid delivery
BAD_SIGNATURE_RATE = 0.02  # orders signed with the wrong key: Artery must answer 401
MALFORMED_RATE = 0.02  # orders signed correctly but not JSON, or missing "id"/"total_price"
LARGE_ORDER_RATE = 0.10  # orders with a big-ticket item, total over LARGE_ORDER_TOTAL
LARGE_ORDER_TOTAL = Decimal("1000")
SHOP_TIMEOUT = 10.0  # seconds the shop waits for Artery's answer to one delivery
SHOP_RETRIES = 3  # resends of one delivery (same webhook id) after a 5xx or network error
SHOP_RETRY_DELAY = 0.5  # seconds before the first resend, doubled for each one after
DUPLICATE_WINDOW = 20  # a duplicate repeats one of the last this many valid deliveries

PAYMENTS_SLOW_RATE = 0.05  # chance a call (per operation and key) answers late, after acting
PAYMENTS_SLOW_DELAY = 3.0  # seconds: longer than Artery's client timeout of 1-2 s

ERP_RATE_LIMIT = 20  # requests admitted in any ERP_RATE_WINDOW; one more gets a 429
ERP_RATE_WINDOW = 1.0  # seconds
ERP_RETRY_AFTER = "1"  # seconds, the 429's Retry-After
ERP_BURST_LENGTH = 5  # consecutive 500s in one burst
ERP_BURST_GAP = (80, 120)  # admitted requests between two bursts: about 100

WAREHOUSE_OUT_OF_STOCK_RATE = 0.03  # chance an order's items are out of stock (409)

ACCEPTED = (200, 202)
SKUS = ("MUG-01", "TEE-M", "TEE-L", "CAP-02", "SOCKS-3P", "POSTER-A2", "BOTTLE-07")
FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Guido", "Radia")
LEGACY_ORDERS = [
    {"id": 4_900_000_001, "name": "#0901", "total_price": "49.90", "created_at": "2024-01-05"},
    {"id": 4_900_000_002, "name": "#0902", "total_price": "12.00", "created_at": "2024-02-11"},
    {"id": 4_900_000_003, "name": "#0903", "total_price": "230.50", "created_at": "2024-03-20"},
    {"id": 4_900_000_004, "name": "#0904", "total_price": "75.25", "created_at": "2024-04-02"},
]
TRANSITIONS = {"capture": ("authorized", "captured"), "void": ("authorized", "voided")}
TRANSITIONS["refund"] = ("captured", "refunded")


def _chance(seed: int, *parts: object) -> float:
    """A draw in [0, 1) fixed by the seed and the parts, whatever order calls arrive in."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(data, default=str)  # Decimal amounts become strings
    return Response(body, status, headers, media_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": message}, status, headers)


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _money(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _item(sku: str, quantity: int, cents: int) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "price": str(Decimal(cents) / 100)}


@dataclass
class Delivery:
    """One webhook the shop sends; a duplicate shares its original's id and body."""

    webhook_id: str
    order_id: int
    kind: str  # "valid", "bad_signature", "malformed" or "duplicate"
    order: dict[str, Any]
    flaw: str | None = None  # for a malformed one: "not_json", "no_id" or "no_total"
    original: Delivery | None = None
    body: bytes = b""
    status: int | None = None  # Artery's last answer; 0 when none came
    attempts: int = 0
    absorbed: bool = False  # Artery answered "duplicate": true

    def row(self) -> dict[str, Any]:
        keys = ("webhook_id", "order_id", "kind", "flaw", "status", "attempts", "absorbed")
        return {key: getattr(self, key) for key in keys} | {"total": self.order["total_price"]}


class Shop:
    """Sends orders to Artery as signed Shopify webhooks and keeps a ledger of the answers."""

    def __init__(self, artery: str, secret: str, seed: int) -> None:
        self.url = artery.rstrip("/") + "/hooks/shop"
        self.secret = secret.encode()  # Artery's Shopify scheme keys the HMAC with UTF-8 bytes
        self.rng = random.Random(f"{seed}:shop")
        self.next_id = FIRST_ORDER_ID
        self.ledger: list[Delivery] = []
        self.silence: dict[str, Any] = {}
        self.task: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None

    def plan(self, orders: int) -> list[Delivery]:
        plan: list[Delivery] = []
        valid: list[Delivery] = []
        for _ in range(orders):
            roll, flaw = self.rng.random(), None
            if roll < BAD_SIGNATURE_RATE:
                kind = "bad_signature"
            elif roll < BAD_SIGNATURE_RATE + MALFORMED_RATE:
                kind, flaw = "malformed", self.rng.choice(("not_json", "no_id", "no_total"))
            else:
                kind = "valid"
            webhook_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            delivery = Delivery(webhook_id, self.next_id, kind, self._order(self.next_id), flaw)
            self.next_id += 1
            plan.append(delivery)
            valid += [delivery] if kind == "valid" else []
            if valid and self.rng.random() < DUPLICATE_RATE:
                first = self.rng.choice(valid[-DUPLICATE_WINDOW:])
                duplicate = Delivery(first.webhook_id, first.order_id, "duplicate", first.order)
                duplicate.original = first
                plan.append(duplicate)
        return plan

    def _order(self, order_id: int) -> dict[str, Any]:
        rng, number = self.rng, order_id - FIRST_ORDER_ID + 1001
        count = rng.randint(1, 3)  # at most 3 items x 3 x 100.00: never large on its own
        items = [
            _item(rng.choice(SKUS), rng.randint(1, 3), rng.randint(500, 10_000))
            for _ in range(count)
        ]
        if rng.random() < LARGE_ORDER_RATE:
            items.append(_item("EBIKE-X1", 1, rng.randint(120_000, 250_000)))
        total = sum(Decimal(item["price"]) * item["quantity"] for item in items)
        first_name = rng.choice(FIRST_NAMES)
        email = f"{first_name.lower()}.{number}@example.com"
        return {
            "id": order_id,
            "name": f"#{number}",
            "email": email,
            "currency": "EUR",
            "total_price": f"{total:.2f}",
            "line_items": items,
            "customer": {"email": email, "first_name": first_name},
        }

    def _body(self, delivery: Delivery) -> bytes:
        order = delivery.order | {"created_at": _now()}
        if delivery.flaw == "not_json":
            return f"id={order['id']}&total_price={order['total_price']}".encode()
        if delivery.flaw == "no_id":
            del order["id"]
        if delivery.flaw == "no_total":
            del order["total_price"]
        return orjson.dumps(order)

    def _headers(self, delivery: Delivery, body: bytes) -> dict[str, str]:
        key = self.secret + (b"-old" if delivery.kind == "bad_signature" else b"")
        mac = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": mac,
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-API-Version": "2024-07",
        }

    async def _send(self, delivery: Delivery) -> None:
        assert self.client is not None
        if delivery.original is None:
            delivery.body = self._body(delivery)  # before any await: duplicates reuse it
        body = delivery.original.body if delivery.original else delivery.body
        headers = self._headers(delivery, body)
        for attempt in range(SHOP_RETRIES + 1):
            if attempt:
                await asyncio.sleep(SHOP_RETRY_DELAY * 2 ** (attempt - 1))
            delivery.attempts += 1
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError:
                delivery.status = 0
                continue
            delivery.status = response.status_code
            if response.status_code < 500:
                answer = _parse(response.content) or {}
                delivery.absorbed = answer.get("duplicate") is True
                return

    async def _run(self, orders: int, rate: float, silence_after: int, silence_for: float) -> None:
        loop = asyncio.get_running_loop()
        sends: list[asyncio.Task[None]] = []
        at, distinct = loop.time(), 0
        for delivery in self.plan(orders):
            await asyncio.sleep(max(0.0, at - loop.time()))
            if delivery.original is None:
                if distinct == silence_after > 0 and silence_for > 0:
                    self.silence = {"after_orders": distinct, "started_at": _now()}
                    await asyncio.sleep(silence_for)
                    self.silence["ended_at"] = _now()
                    at = loop.time()
                distinct += 1
            self.ledger.append(delivery)
            sends.append(asyncio.create_task(self._send(delivery)))
            at += 1 / rate
        await asyncio.gather(*sends)

    async def start(self, request: Request) -> Response:
        data = _parse(await request.body())
        if data is None:
            return _error(400, "the body is not a JSON object")
        if self.task is not None and not self.task.done():
            return _error(409, "the shop is already sending")
        try:
            orders, rate = int(data.get("orders", 100)), float(data.get("rate", 10))
            after, silent = int(data.get("silence_after", 0)), float(data.get("silence_for", 0))
        except (TypeError, ValueError):
            return _error(422, "orders, rate, silence_after and silence_for must be numbers")
        if orders < 0 or rate <= 0:
            return _error(422, "orders must be >= 0 and rate > 0")
        self.task = asyncio.create_task(self._run(orders, rate, after, silent))
        return _json({"started": True, "orders": orders, "rate": rate}, 202)

    def status(self) -> dict[str, Any]:
        firsts = [d for d in self.ledger if d.original is None]
        valid = [d for d in firsts if d.kind == "valid" and d.status in ACCEPTED]
        kinds = Counter(d.kind for d in self.ledger)
        answered = [d.status for d in self.ledger if d.status is not None]
        return {
            "sent": len(self.ledger),
            "done": self.task is not None and self.task.done(),
            "valid_orders": [d.order_id for d in valid],
            "large_orders": [
                d.order_id for d in valid if Decimal(d.order["total_price"]) > LARGE_ORDER_TOTAL
            ],
            "duplicates": kinds["duplicate"],
            "duplicates_absorbed": sum(d.absorbed for d in self.ledger),
            "bad_signature": kinds["bad_signature"],
            "malformed": kinds["malformed"],
            "retries": sum(max(0, d.attempts - 1) for d in self.ledger),
            "answers": Counter(str(s) if s else "no_answer" for s in answered),
            "silence": self.silence,
            "ledger": [d.row() for d in self.ledger],
        }

    async def status_endpoint(self, request: Request) -> Response:
        return _json(self.status())


@dataclass
class Authorization:
    id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str = "authorized"  # then "captured" (maybe "refunded") or "voided"
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)


class Payments:
    """A card processor: every call needs an Idempotency-Key; a repeat replays the answer."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.authorizations: dict[str, Authorization] = {}
        self.answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.counts: Counter[str] = Counter()
        self.operations = {"authorize": self.authorize} | dict.fromkeys(TRANSITIONS, self.move)

    async def handle(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        if operation not in self.operations:
            return _error(404, f"no payments operation {operation!r}")
        data = _parse(await request.body())  # read first: no await between check and act
        key = request.headers.get("idempotency-key")
        if not key:
            self.counts["missing_key"] += 1
            return _error(400, "an Idempotency-Key header is required")
        if data is None:
            return _error(400, "the body is not a JSON object")
        first = self.answers.get((operation, key))
        if first is not None:
            self.counts["repeats"] += 1
            return _json(first[1], first[0])
        status, answer = self.operations[operation](operation, data)
        self.answers[(operation, key)] = (status, answer)
        self.counts[f"{operation}:{status}"] += 1
        if _chance(self.seed, "slow", operation, key) < PAYMENTS_SLOW_RATE:
            self.counts["slow"] += 1
            await asyncio.sleep(PAYMENTS_SLOW_DELAY)  # it happened; the answer comes too late
        return _json(answer, status)

    def authorize(self, _: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        amount, order_id, currency = (
            _money(data.get("amount")),
            data.get("order_id"),
            data.get("currency"),
        )
        if order_id is None or amount is None or not isinstance(currency, str):
            return 422, {"error": "order_id, amount and currency are required"}
        auth_id = f"auth_{len(self.authorizations) + 1:06d}"
        auth = Authorization(auth_id, str(order_id), amount, currency)
        self.authorizations[auth.id] = auth
        return 201, {"authorization_id": auth.id, "status": auth.status, "amount": amount}

    def move(self, operation: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        auth = self.authorizations.get(str(data.get("authorization_id")))
        if auth is None:
            return 404, {"error": "no such authorization"}
        before, after = TRANSITIONS[operation]
        if auth.status != before:
            return 409, {"error": f"cannot {operation} an authorization that is {auth.status}"}
        auth.status = after
        auth.captured = auth.amount if operation == "capture" else auth.captured
        auth.refunded = auth.captured if operation == "refund" else auth.refunded
        return 200, {"authorization_id": auth.id, "status": auth.status}

    def by_order(self) -> dict[str, dict[str, Any]]:
        """Per order: its authorizations' amounts, what happened, and whether money is kept."""
        orders: dict[str, dict[str, Any]] = {}
        blank = dict.fromkeys(
            ("authorized_amount", "captured_amount", "refunded_amount"), Decimal(0)
        )
        for auth in self.authorizations.values():
            row = orders.setdefault(auth.order_id, blank | {"authorizations": 0, "voided": False})
            row["authorizations"] += 1
            row["voided"] |= auth.status == "voided"
            row["authorized_amount"] += auth.amount
            row["captured_amount"] += auth.captured
            row["refunded_amount"] += auth.refunded
        for row in orders.values():
            row["captured"], row["refunded"] = (
                row["captured_amount"] > 0,
                row["refunded_amount"] > 0,
            )
            row["authorized"], row["charged"] = (
                True,
                row["captured_amount"] > row["refunded_amount"],
            )
        return orders


class Erp:
    """An ERP that takes invoices, rate-limits, fails in bursts and goes down on request."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:erp")
        self.admitted: deque[float] = deque()  # times of admitted requests in the window
        self.down_until = 0.0
        self.served = 0  # requests admitted past the rate limit
        self.next_burst = self.rng.randint(*ERP_BURST_GAP)
        self.burst_left = 0
        self.bursts = 0
        self.invoices: dict[str, dict[str, Any]] = {}  # by Idempotency-Key
        self.per_order: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    async def invoice(self, request: Request) -> Response:
        raw = await request.body()
        status, answer, headers = self._answer(request.headers.get("idempotency-key"), raw)
        self.statuses[str(status)] += 1
        return _json(answer, status, headers)

    def _answer(self, key: str | None, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.monotonic()
        if now < self.down_until:
            return 503, {"error": "the ERP is down for maintenance"}, {}
        while self.admitted and now - self.admitted[0] >= ERP_RATE_WINDOW:
            self.admitted.popleft()
        if len(self.admitted) >= ERP_RATE_LIMIT:
            return 429, {"error": "rate limited"}, {"Retry-After": ERP_RETRY_AFTER}
        self.admitted.append(now)
        self.served += 1
        if self.burst_left == 0 and self.served >= self.next_burst:
            self.burst_left, self.bursts = ERP_BURST_LENGTH, self.bursts + 1
            self.next_burst = self.served + ERP_BURST_LENGTH + self.rng.randint(*ERP_BURST_GAP)
        if self.burst_left:
            self.burst_left -= 1
            return 500, {"error": "internal server error"}, {}
        if not key:
            return 400, {"error": "an Idempotency-Key header is required"}, {}
        if key in self.invoices:
            return 200, self.invoices[key], {}  # the same invoice, not a new one
        data = _parse(raw)
        if data is None or data.get("order_id") is None or _money(data.get("amount")) is None:
            return 422, {"error": "order_id and amount are required"}, {}
        invoice = {"invoice_id": f"INV-{len(self.invoices) + 1:06d}", "order_id": data["order_id"]}
        self.invoices[key] = invoice
        self.per_order[str(data["order_id"])] += 1
        return 201, invoice, {}

    async def down(self, request: Request) -> Response:
        data = _parse(await request.body()) or {}
        seconds = _money(data.get("seconds"))
        if seconds is None:
            return _error(422, "seconds must be a number >= 0")
        self.down_until = time.monotonic() + float(seconds)
        return _json({"down_for": float(seconds)})


class Crm:
    """Receives Artery's outbound webhooks, verified with the standardwebhooks library."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.event_ids: set[str] = set()
        self.counts: Counter[str] = Counter()

    async def orders(self, request: Request) -> Response:
        raw = await request.body()
        try:
            self.webhook.verify(raw, dict(request.headers))
        except WebhookVerificationError:
            self.counts["failed"] += 1
            return _error(401, "the webhook signature does not verify")
        except ValueError:  # verified, but the body is not JSON
            self.counts["not_json"] += 1
            return _error(400, "the body is not JSON")
        self.counts["verified"] += 1
        event_id = request.headers["webhook-id"]
        if event_id in self.event_ids:
            self.counts["duplicates"] += 1
        self.event_ids.add(event_id)
        return Response(status_code=204)

    async def legacy(self, request: Request) -> Response:
        self.counts["legacy_gone"] += 1
        return _error(410, "this endpoint is retired; use /crm/hooks/orders")


class Warehouse:
    """Reserves stock per order (Idempotency-Key honoured) and releases it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.reservations: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.counts: Counter[str] = Counter()

    async def reserve(self, request: Request) -> Response:
        data, key = _parse(await request.body()), request.headers.get("idempotency-key")
        if key and key in self.answers:
            self.counts["repeats"] += 1
            return _json(self.answers[key][1], self.answers[key][0])
        if data is None or data.get("order_id") is None:
            return _error(422, "order_id is required")
        order_id = str(data["order_id"])
        if _chance(self.seed, "stock", order_id) < WAREHOUSE_OUT_OF_STOCK_RATE:
            self.counts["out_of_stock"] += 1
            status, answer = 409, {"error": "out_of_stock", "order_id": order_id}
        else:
            reservation_id = f"RES-{len(self.reservations) + 1:06d}"
            self.reservations[reservation_id] = {"order_id": order_id, "released": False}
            self.counts["reserved"] += 1
            status, answer = 201, {"reservation_id": reservation_id, "order_id": order_id}
        if key:
            self.answers[key] = (status, answer)
        return _json(answer, status)

    async def release(self, request: Request) -> Response:
        data = _parse(await request.body()) or {}
        reservation = self.reservations.get(str(data.get("reservation_id")))
        if reservation is None:
            return _error(404, "no such reservation")
        if not reservation["released"]:
            reservation["released"] = True
            self.counts["released"] += 1
        return _json({"reservation_id": data["reservation_id"], "status": "released"})

    def by_order(self) -> dict[str, dict[str, int]]:
        orders: dict[str, dict[str, int]] = {}
        for reservation in self.reservations.values():
            row = orders.setdefault(reservation["order_id"], {"reserved": 0, "released": 0})
            row["reserved"] += 1
            row["released"] += reservation["released"]
        for row in orders.values():
            row["active"] = row["reserved"] - row["released"]
        return orders


def build_app(args: argparse.Namespace) -> Starlette:
    shop = Shop(args.artery, args.shop_secret, args.seed)
    payments, erp = Payments(args.seed), Erp(args.seed)
    crm, warehouse = Crm(args.crm_secret), Warehouse(args.seed)
    legacy_calls = Counter[str]()

    async def legacy_export(request: Request) -> Response:
        legacy_calls["export"] += 1
        since = request.query_params.get("since", "")
        orders = [order for order in LEGACY_ORDERS if str(order["created_at"]) >= since]
        return _json({"orders": orders, "source": "legacy"})

    async def stats(request: Request) -> Response:
        return _json(
            {
                "shop": shop.status(),
                "payments": {"orders": payments.by_order(), "counts": payments.counts},
                "erp": {
                    "invoices": erp.per_order,
                    "answers": erp.statuses,
                    "bursts": erp.bursts,
                    "down": time.monotonic() < erp.down_until,
                },
                "crm": crm.counts | {"event_ids": len(crm.event_ids)},
                "legacy": {"calls": legacy_calls["export"]},
                "warehouse": {"orders": warehouse.by_order(), "counts": warehouse.counts},
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=SHOP_TIMEOUT, trust_env=False) as client:
            shop.client = client
            yield
            if shop.task is not None:
                shop.task.cancel()
                await asyncio.gather(shop.task, return_exceptions=True)

    post, get = ["POST"], ["GET"]
    routes = [
        Route("/_control/shop/start", shop.start, methods=post),
        Route("/_control/shop", shop.status_endpoint, methods=get),
        Route("/_control/erp/down", erp.down, methods=post),
        Route("/_control/stats", stats, methods=get),
        Route("/payments/{operation}", payments.handle, methods=post),
        Route("/erp/invoices", erp.invoice, methods=post),
        Route("/crm/hooks/orders", crm.orders, methods=post),
        Route("/crm/hooks/legacy", crm.legacy, methods=post),
        Route("/legacy/orders/export", legacy_export, methods=get),
        Route("/warehouse/reserve", warehouse.reserve, methods=post),
        Route("/warehouse/release", warehouse.release, methods=post),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


class _Server(uvicorn.Server):
    """Uvicorn, but SIGTERM or SIGINT ends the process with status 0 (uvicorn re-raises it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def serve(args: argparse.Namespace) -> None:
    config = uvicorn.Config(
        build_app(args),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(PAYMENTS_SLOW_DELAY)
        + 1,  # a late answer in flight ends first
    )
    server = _Server(config)
    running = asyncio.create_task(server.serve())
    while not server.started and not running.done():
        await asyncio.sleep(0.02)
    if server.started:
        print(f"partners ready on http://127.0.0.1:{args.port}", flush=True)
    await running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--artery", required=True, help="Artery's base URL")
    parser.add_argument("--shop-secret", required=True, help="the shop's Shopify HMAC secret")
    parser.add_argument("--crm-secret", required=True, help="the CRM's whsec_ secret")
    parser.add_argument("--seed", type=int, default=18)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
