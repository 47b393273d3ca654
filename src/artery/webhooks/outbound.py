"""Delivering events to webhook destinations, on the delivery engine.

Each destination is a consumer group of its own (``webhook-<name>``) on every topic whose
contract matches its event types: its own offsets, retries, dead letters, rate limit and
breaker, so a failing endpoint never delays the others. A delivery is one signed POST
(``signing.py``) through the address guard, with the destination's timeout; its outcome:

* 2xx: delivered; a failing streak ends.
* 410 Gone: the destination is disabled at once; the event is dead-lettered.
* other 4xx, except 408, 409, 425 and 429: the partner refuses this event; dead-lettered.
* 408, 409, 425, 429, 5xx, timeouts, connection and DNS failures: retried on the
  destination's schedule (Svix's by default, with up to 10% jitter); ``Retry-After`` on a
  429 or 503 is honoured when later. Past the schedule: dead-lettered.

A destination failing without a success for ``disable_after`` (5 days) is disabled and an
``artery.destination.disabled`` event published. Every attempt is recorded (status,
latency, the first KiB of the answer). A disabled destination's events are skipped, and
recorded so; ``resend`` (one event, never blocked by a dedupe key) and re-enabling are the
admin API's.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from artery.clock import iso_us
from artery.delivery.consumer import Consumer, DeliveryContext
from artery.envelope import Event
from artery.errors import ConfigError, NotFound
from artery.gateway.buffered import Buffered
from artery.govern import secrets
from artery.integration import Contract
from artery.publishing import Publish
from artery.retry import Permanent, Retry, RetryLater
from artery.runtime import Runtime, install
from artery.store import SqlStore
from artery.store.protocol import Tx
from artery.webhooks import signing
from artery.webhooks.destinations import Destination
from artery.webhooks.guard import AddressGuard, AddressPolicy, AddressRefused, guarded_client

EXCERPT = 1024  # bytes of a partner's answer kept per attempt
# Calls in flight per destination. httpx's pool slows down past ~8 concurrent requests
# (measured ad hoc against bench/webhooks_support/receiver.py; bench/webhooks.py compares
# Artery with a bare client at 8, its best), so each destination gets its own client of
# this many connections and deliveries queue for them.
IN_FLIGHT = 8
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
DISABLED_SUBJECT = "artery.destination.disabled"
DISABLED = Contract(
    subject=DISABLED_SUBJECT,
    schema={
        "type": "object",
        "required": ["destination", "reason"],
        "properties": {
            "destination": {"type": "string"},
            "url": {"type": "string"},
            "reason": {"type": "string"},
            "failing_since": {"type": ["number", "null"]},
        },
    },
    topic=DISABLED_SUBJECT,
    owner="artery",
    description="A webhook destination was disabled (410 Gone, or failing too long)",
)
log = logging.getLogger("artery.webhooks")


@dataclass(frozen=True)
class Sent:
    """One attempt's outcome."""

    outcome: str  # delivered | failed | skipped
    status: int | None
    latency_us: int
    response: str | None
    error: str | None
    retry_after: float | None = None


@dataclass(frozen=True)
class AttemptRow:
    destination: str
    event: Event
    attempt: int
    trigger: str
    at_us: int
    sent: Sent


class Outbound:
    """The declared destinations' senders: a service, and the consumers of its groups."""

    def __init__(
        self,
        destinations: Sequence[Destination],
        contracts: Mapping[str, Contract],
        publish: Publish,
    ) -> None:
        self.destinations = {d.name: d for d in destinations}
        self.contracts = contracts
        self.publish = publish
        self.attempts: Buffered[AttemptRow] = Buffered("webhook-attempts", _insert_attempts)
        self._secrets: dict[str, tuple[str, ...]] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._failing: set[str] = set()  # destinations whose stored streak is running
        self._store: SqlStore | None = None
        self._runtime: Runtime | None = None
        self._disabled: dict[str, tuple[float, bool]] = {}  # name -> (read at, disabled)

    def topics_of(self, destination: Destination) -> list[str]:
        return sorted({c.topic for s, c in self.contracts.items() if destination.matches(s)})

    def consumers(self) -> list[Consumer]:
        return [c for d in self.destinations.values() for c in self.consumers_of(d)]

    def consumers_of(self, d: Destination) -> list[Consumer]:
        """One consumer per topic whose contract ``d``'s event types match."""
        topics = self.topics_of(d)
        if not topics:
            raise ConfigError(
                f"destination {d.name!r}: no declared contract matches {list(d.events)}",
                fix="name event types (contract subjects) the app declares",
            )
        return [
            Consumer(
                name=f"webhook:{d.name}",
                topic=topic,
                group=d.group,
                handler=self._handler(d.name),
                retry=Retry(attempts=len(d.schedule) + 1, base=1.0),
                timeout=d.timeout + 5.0,
                ordered=d.ordered,
                rate_limit=d.rate_limit,
                breaker=d.breaker,
                start="latest",
                integration=d.integration,
                partner=d.name,  # a destination is a partner of its own
            )
            for topic in topics
        ]

    def _handler(self, name: str) -> Any:
        async def deliver(event: Event, ctx: DeliveryContext) -> None:
            found = self.destinations.get(name)
            if found is None:  # deleted while this delivery waited: nothing to send
                return
            await self.deliver(found, event, ctx.attempt)

        return deliver

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise ConfigError("webhook destinations are not started", fix="start the app")
        return self._runtime

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._store = runtime.store
        for d in list(self.destinations.values()):
            await self.put(d)
        await self.attempts.start(runtime)

    async def check(self, d: Destination) -> None:
        """Refuse ``d`` now if it could not be opened: secret unset or bad, URL refused
        by the address guard (at registration; every request is checked again)."""
        signing.signature("check", 0, b"", secrets.resolve(d.secret))
        checker = AddressGuard(AddressPolicy.of(self.runtime.settings))
        try:
            await checker.check(d.url)
        finally:
            await checker.aclose()

    async def put(self, d: Destination) -> None:
        """Open (or reopen, changed) ``d``: its secrets now, its URL checked by the address
        guard, its state row, its client. Refuses (``AddressRefused``, ``ConfigError``)
        before anything of it changes."""
        runtime = self.runtime
        await self.check(d)
        await runtime.store.write(
            lambda tx: tx.execute(
                "INSERT INTO webhook_destination_state (name) VALUES (?)"
                " ON CONFLICT (name) DO NOTHING",
                (d.name,),
            )
        )
        row = await self.state(d.name)  # another process may have seen failures
        if row is not None and row[0] is not None:
            self._failing.add(d.name)
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        old = self._clients.get(d.name)
        self._secrets[d.name] = secrets.resolve(d.secret)
        self._clients[d.name] = guarded_client(
            runtime.settings,
            timeout=d.timeout,
            inner=httpx.AsyncHTTPTransport(limits=limits),
            tracing=runtime.tracing if runtime.settings.tracing else None,
        )
        self._slots.setdefault(d.name, asyncio.Semaphore(IN_FLIGHT))
        self.destinations[d.name] = d
        if old is not None:
            await old.aclose()

    async def drop(self, name: str) -> None:
        """Stop sending to ``name`` (deleted); its attempts and state stay on record."""
        self.destinations.pop(name, None)
        self._secrets.pop(name, None)
        client = self._clients.pop(name, None)
        if client is not None:
            await client.aclose()

    async def stop(self) -> None:
        await self.attempts.stop()
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    # -- delivering --------------------------------------------------------------------

    async def deliver(self, d: Destination, event: Event, attempt: int) -> None:
        if not d.wants(event.data):
            return
        if await self.is_disabled(d.name):
            self._record(d, event, attempt, "delivery", Sent("skipped", None, 0, None, "disabled"))
            return
        sent = await self.send(d, event, attempt, "delivery")
        if sent.outcome == "delivered":
            await self._succeeded(d)
            return
        await self._failed(d, sent)
        if sent.status == 410:
            await self.disable(d.name, "410 Gone from the destination")
            raise Permanent(f"{d.url} answered 410 Gone: destination disabled")
        if (
            sent.status is not None
            and 400 <= sent.status < 500
            and (sent.status not in RETRYABLE_4XX)
        ):
            raise Permanent(f"{d.url} answered {sent.status}: not retried")
        if sent.error == "refused":
            raise Permanent(f"{d.url} is refused by the address guard")
        if attempt > len(d.schedule):
            raise Permanent(f"{d.url} failed {attempt} attempts")
        delay = d.schedule[attempt - 1] * random.uniform(1.0, 1.1)
        if sent.retry_after is not None:
            delay = max(delay, sent.retry_after)
        raise RetryLater(delay, f"{d.url}: {sent.status or sent.error}")

    async def send(self, d: Destination, event: Event, attempt: int, trigger: str) -> Sent:
        """One signed POST of ``event`` to ``d``, recorded."""
        if d.name not in self._clients:
            raise ConfigError("webhook destinations are not started", fix="start the app")
        body = orjson.dumps(
            {
                "id": event.id,
                "type": event.type,
                "timestamp": event.time.isoformat(),
                "data": event.data,
            }
        )
        stamp = int(time.time())
        headers = {
            **d.headers,
            **signing.headers(event.id, stamp, body, self._secrets[d.name]),
            "content-type": "application/json",
        }
        async with self._slots[d.name]:
            sent = await self._attempt(d, body, headers)
        self._record(d, event, attempt, trigger, sent)
        return sent

    async def _attempt(self, d: Destination, body: bytes, headers: dict[str, str]) -> Sent:
        started = time.perf_counter()
        try:
            return await self._post(d, body, headers, started)
        except AddressRefused as exc:
            error = "dns" if exc.retryable else "refused"
            return Sent("failed", None, _since(started), None, error)
        except httpx.TimeoutException:
            return Sent("failed", None, _since(started), None, "timeout")
        except httpx.TransportError as exc:
            return Sent("failed", None, _since(started), None, type(exc).__name__)

    async def _post(
        self, d: Destination, body: bytes, headers: dict[str, str], started: float
    ) -> Sent:
        client = self._clients[d.name]
        request = client.build_request("POST", d.url, content=body, headers=headers)
        response = await client.send(request, stream=True)
        try:
            excerpt = await _excerpt(response)
        finally:
            await response.aclose()
        ok = 200 <= response.status_code < 300
        return Sent(
            "delivered" if ok else "failed",
            response.status_code,
            _since(started),
            excerpt,
            None,
            _retry_after(response) if response.status_code in (429, 503) else None,
        )

    def _record(self, d: Destination, event: Event, attempt: int, trigger: str, sent: Sent) -> None:
        at = int(time.time() * 1_000_000)
        self.attempts.add(AttemptRow(d.name, event, attempt, trigger, at, sent))
        runtime = self._runtime
        if runtime is not None and runtime.settings.metrics:
            status = str(sent.status) if sent.status is not None else sent.error or sent.outcome
            m = runtime.metrics
            m.child(m.destination_attempts, d.name, _status_label(status)).inc()

    # -- state -------------------------------------------------------------------------

    async def is_disabled(self, name: str) -> bool:
        """From the store, read at most once a second per destination."""
        cached = self._disabled.get(name)
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        row = await self.state(name)
        disabled = row is not None and row[1] is not None
        self._disabled[name] = (time.monotonic(), disabled)
        return disabled

    async def described(self) -> list[dict[str, Any]]:
        """Each destination with its state, as the admin API and the CLI show it."""
        found = []
        for name, d in sorted(self.destinations.items()):
            row = await self.state(name)
            found.append(
                {
                    "name": name,
                    "url": d.url,
                    "events": list(d.events),
                    "ordered": d.ordered,
                    "enabled": not (row and row[1] is not None),
                    "failing_since": iso_us(row[0]) if row and row[0] is not None else None,
                    "disabled_at": iso_us(row[1]) if row and row[1] is not None else None,
                    "disabled_reason": row[2] if row else None,
                }
            )
        return found

    async def state(self, name: str) -> Any:
        """``(failing_since, disabled_at, disabled_reason)`` of ``name``, or None."""
        assert self._store is not None
        rows = await self._store.read(
            lambda tx: tx.execute(
                "SELECT failing_since, disabled_at, disabled_reason FROM"
                " webhook_destination_state WHERE name = ?",
                (name,),
            )
        )
        return rows[0] if rows else None

    async def _succeeded(self, d: Destination) -> None:
        """Ends a failing streak: a write only when one is known to be running."""
        if d.name not in self._failing:
            return
        self._failing.discard(d.name)
        assert self._store is not None
        await self._store.write(
            lambda tx: tx.execute(
                "UPDATE webhook_destination_state SET failing_since = NULL"
                " WHERE name = ? AND failing_since IS NOT NULL",
                (d.name,),
            )
        )

    async def _failed(self, d: Destination, sent: Sent) -> None:
        self._failing.add(d.name)
        assert self._store is not None
        now = int(time.time() * 1_000_000)

        def mark(tx: Tx) -> Any:
            tx.execute(
                "UPDATE webhook_destination_state SET failing_since = ?"
                " WHERE name = ? AND failing_since IS NULL",
                (now, d.name),
            )
            return tx.one(
                "SELECT failing_since FROM webhook_destination_state WHERE name = ?", (d.name,)
            )

        row = await self._store.write(mark)
        since = int(row[0]) if row and row[0] is not None else now
        if now - since >= d.disable_after * 1_000_000:
            await self.disable(
                d.name, f"failing for {d.disable_after / 3600:g} h without a success"
            )

    async def disable(self, name: str, reason: str) -> bool:
        """Disable ``name`` (once); publishes ``artery.destination.disabled``."""
        d = self.known(name)
        assert self._store is not None
        now = int(time.time() * 1_000_000)

        def write(tx: Tx) -> Any:
            return tx.execute(
                "UPDATE webhook_destination_state SET disabled_at = ?, disabled_reason = ?"
                " WHERE name = ? AND disabled_at IS NULL RETURNING failing_since",
                (now, reason, name),
            )

        changed = await self._store.write(write)
        self._disabled[name] = (time.monotonic(), True)
        if not changed:
            return False
        since = changed[0][0]
        log.warning("webhook destination %s disabled: %s", name, reason)
        await install(self.runtime, [DISABLED])  # registered on first use, then a no-op
        await self.publish(
            DISABLED,
            {
                "destination": name,
                "url": d.url,
                "reason": reason,
                "failing_since": None if since is None else int(since) / 1e6,
            },
            key=name,
        )
        return True

    async def enable(self, name: str) -> None:
        self.known(name)
        self._failing.discard(name)
        assert self._store is not None
        await self._store.write(
            lambda tx: tx.execute(
                "UPDATE webhook_destination_state SET disabled_at = NULL,"
                " disabled_reason = NULL, failing_since = NULL WHERE name = ?",
                (name,),
            )
        )
        self._disabled.pop(name, None)

    def known(self, name: str) -> Destination:
        found = self.destinations.get(name)
        if found is None:
            raise NotFound(
                f"no webhook destination named {name!r}",
                fix=f"known: {', '.join(sorted(self.destinations)) or 'none'}",
            )
        return found


async def _excerpt(response: httpx.Response) -> str:
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk[: EXCERPT - len(kept)]
        if len(kept) >= EXCERPT:
            break
    return kept.decode("utf-8", "replace")


def _retry_after(response: httpx.Response) -> float | None:
    text = response.headers.get("retry-after", "").strip()
    if text.isdigit():
        return min(float(text), 86400.0)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), 86400.0)


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1_000_000)


def _insert_attempts(tx: Tx, rows: Sequence[AttemptRow]) -> None:
    tx.executemany(
        "INSERT INTO webhook_attempts (destination, event_id, event_type, topic,"
        " event_partition, event_offset, attempt, trigger, at, outcome, status, latency_us,"
        " response, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.destination,
                r.event.id,
                r.event.type,
                r.event.topic or "",
                r.event.partition if r.event.partition is not None else -1,
                r.event.offset if r.event.offset is not None else -1,
                r.attempt,
                r.trigger,
                r.at_us,
                r.sent.outcome,
                r.sent.status,
                r.sent.latency_us,
                r.sent.response,
                r.sent.error,
            )
            for r in rows
        ],
    )


def _status_label(status: str) -> str:
    """An attempt's status as a bounded label: the HTTP code, or the error's kind."""
    if status.isdigit():
        return status
    return status.split(":")[0].split(" ")[0][:40] or "error"


__all__ = ["DISABLED", "DISABLED_SUBJECT", "Outbound", "Sent"]
