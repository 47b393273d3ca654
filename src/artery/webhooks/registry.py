"""Webhook destinations made at run time: created, replaced and deleted over the admin API
(``admin/destinations.py``), kept in the store, and applied by every process within a
``interval``: a worker starts, restarts or stops the destination's consumers, a gateway
learns it for resend and attempts. Destinations declared in code are not changed here.

A spec is ``webhook_destination``'s arguments as JSON (the secret by name, never its
value); it is checked as a declaration is, and its URL by the address guard, before it
is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from artery.delivery.worker import Worker
from artery.errors import ConfigError, Conflict, NotFound
from artery.runtime import Runtime
from artery.store.protocol import Tx
from artery.webhooks.destinations import Destination, destination
from artery.webhooks.outbound import Outbound

SPEC_KEYS = frozenset(
    {
        "url",
        "events",
        "secret",
        "filter",
        "rate_limit",
        "headers",
        "ordered",
        "schedule",
        "timeout",
        "disable_after",
    }
)
log = logging.getLogger("artery.webhooks")


def built(name: str, spec: Any) -> Destination:
    """The destination ``spec`` describes; refuses unknown keys and bad values."""
    if not isinstance(spec, dict):
        raise ConfigError("a destination spec is a JSON object", fix='e.g. {"url": ...}')
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ConfigError(
            f"unknown destination field(s) {sorted(unknown)}", fix=f"known: {sorted(SPEC_KEYS)}"
        )
    for required in ("url", "events", "secret"):
        if required not in spec:
            raise ConfigError(f"a destination needs {required!r}", fix="add it to the spec")
    try:
        return destination(name, integration=None, **spec)
    except TypeError as exc:
        raise ConfigError(f"destination spec: {exc}", fix="check each field's type") from None


class RunTimeDestinations:
    """A service: keeps ``outbound`` (and ``worker``, if this process delivers) in step
    with the ``webhook_destinations`` table."""

    def __init__(
        self, outbound: Outbound, worker: Worker | None = None, *, interval: float = 1.0
    ) -> None:
        self.outbound = outbound
        self.worker = worker
        self.interval = interval
        self.code = frozenset(outbound.destinations)  # declared in code: not ours
        self._seen: dict[str, int] = {}  # name -> updated_at applied
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._runtime: Runtime | None = None

    def attach(self, runtime: Runtime) -> None:
        """Work on ``runtime``'s store without watching it: for tools (the CLI)."""
        self._runtime = runtime

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        guard = runtime.health.guard("webhook destinations", log)

        async def iteration() -> None:
            await self.sync()
            await asyncio.sleep(self.interval)

        self._task = asyncio.create_task(guard.run(iteration), name="artery-destinations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def sync(self) -> None:
        """Apply what changed in the table since the last look."""
        assert self._runtime is not None
        rows = await self._runtime.store.read(
            lambda tx: tx.execute("SELECT name, spec_json, updated_at FROM webhook_destinations")
        )
        async with self._lock:
            current = {str(n): (orjson.loads(s), int(u)) for n, s, u in rows}
            for name in set(self._seen) - set(current):
                await self._stop(name)
                del self._seen[name]
            for name, (spec, updated) in current.items():
                if self._seen.get(name) == updated or name in self.code:
                    continue
                try:
                    await self._apply(built(name, spec))
                except Exception as exc:  # one bad row must not stop the others
                    log.error("webhook destination %s cannot start: %s", name, exc)
                self._seen[name] = updated

    async def _apply(self, d: Destination) -> None:
        if self.worker is not None and self.worker.started:
            await self.worker.remove(d.group)
        await self.outbound.put(d)
        if self.worker is not None and self.worker.started:
            for consumer in self.outbound.consumers_of(d):
                await self.worker.add(consumer)

    async def _stop(self, name: str) -> None:
        if self.worker is not None and self.worker.started:
            await self.worker.remove(f"webhook-{name}")
        await self.outbound.drop(name)

    # -- changes (admin API, CLI) --------------------------------------------------------

    async def create(self, name: str, spec: Any) -> Destination:
        d = await self._checked(name, spec)
        now = int(time.time() * 1_000_000)
        text = orjson.dumps(spec).decode()

        def insert(tx: Tx) -> Any:
            return tx.execute(
                "INSERT INTO webhook_destinations (name, spec_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, text, now, now),
            )

        assert self._runtime is not None
        if not await self._runtime.store.write(insert):
            raise Conflict(
                f"a webhook destination named {name!r} exists",
                fix="replace it (PUT) or choose another name",
            )
        await self.sync()
        return d

    async def replace(self, name: str, spec: Any) -> Destination:
        d = await self._checked(name, spec)
        now = int(time.time() * 1_000_000)
        text = orjson.dumps(spec).decode()
        assert self._runtime is not None
        changed = await self._runtime.store.write(
            lambda tx: tx.execute(
                "UPDATE webhook_destinations SET spec_json = ?, updated_at = ? WHERE name = ?"
                " RETURNING name",
                (text, now, name),
            )
        )
        if not changed:
            raise NotFound(f"no run-time destination named {name!r}", fix="create it (POST)")
        await self.sync()
        return d

    async def delete(self, name: str) -> None:
        self._not_code(name)
        assert self._runtime is not None
        gone = await self._runtime.store.write(
            lambda tx: tx.execute(
                "DELETE FROM webhook_destinations WHERE name = ? RETURNING name", (name,)
            )
        )
        if not gone:
            raise NotFound(f"no run-time destination named {name!r}", fix="list them first")
        await self.sync()

    async def _checked(self, name: str, spec: Any) -> Destination:
        self._not_code(name)
        d = built(name, spec)
        if not self.outbound.topics_of(d):
            raise ConfigError(
                f"destination {name!r}: no declared contract matches {list(d.events)}",
                fix="name event types (contract subjects) the app declares",
            )
        await self.outbound.check(d)
        return d

    def _not_code(self, name: str) -> None:
        if name in self.code:
            raise Conflict(
                f"destination {name!r} is declared in the app's code",
                fix="change it in the code, or use another name",
            )


__all__ = ["SPEC_KEYS", "RunTimeDestinations", "built"]
