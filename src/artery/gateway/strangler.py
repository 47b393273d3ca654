"""Strangler routing: a route that forwards to a legacy upstream while its new handler
takes over a growing share of the traffic.

Each request of a route with an ``upstream`` goes to one side. A request carrying the
split's ``header`` goes to the new handler (so a team can try it on purpose); otherwise
``percent`` of requests do, chosen by a hash of the request id: a client that retries with
the same ``X-Request-Id`` lands on the same side, and a failure seen in the log can be
replayed against the side that produced it. A request without an id is placed at random.

The route's declared ``Split`` is the starting point; a split stored in ``traffic_splits``
(set through ``PUT /admin/splits/...``) overrides it. Every process re-reads the table every
``POLL`` seconds, so a change reaches every gateway sharing the store within about one
second, without a restart. Every call, to either side, is recorded in ``forwarded_calls``
(buffered, written by a guarded background loop, flushed on stop).

What reaches the upstream is the caller's method, path, query and body, with this
request's id and ``traceparent`` and without the caller's credential
(``gateway/proxy_headers.py`` says which headers cross, and why). The upstream URL is the
developer's declaration, not caller input, so it is not subject to the outbound SSRF guard.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.responses import Response

from artery.errors import ArteryError, BadGateway, GatewayTimeout
from artery.gateway.buffered import Buffered
from artery.gateway.gate import Endpoint, request_id
from artery.gateway.proxy_headers import client_of, relayed_headers, upstream_headers
from artery.gateway.route import ApiRoute, Split
from artery.runtime import Runtime
from artery.store import SqlStore
from artery.store.protocol import Tx
from artery.webhooks.guard import AddressPolicy, guarded_client

log = logging.getLogger("artery.gateway.strangler")

POLL = 1.0  # seconds between reads of traffic_splits: how soon a change reaches a process
FLUSH = 0.25  # seconds between writes of the recorded calls
MAX_BUFFER = 100_000  # calls waiting for the store at most; beyond, counted, not kept
MAX_RESPONSE = 16 << 20  # bytes of an upstream's answer the gateway will relay
UPSTREAM_SHARE = 0.9  # of the route's timeout, so the forwarder (not the gate) answers 504
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ForwardedCall:
    """One call of a forwarded route, to whichever side answered it. ``path`` has no query
    string: queries may carry personal data or tokens."""

    at_us: int
    route: str
    target: str  # "upstream" or "handler"
    method: str
    path: str
    status: int
    duration_us: int
    client: str | None
    request_id: str | None


@dataclass(frozen=True)
class StoredSplit:
    """A split set at run time, and by whom."""

    split: Split
    changed_by: str
    changed_at_us: int


def _insert_calls(tx: Tx, calls: Sequence[ForwardedCall]) -> None:
    tx.executemany(
        "INSERT INTO forwarded_calls (at, route, target, method, path, status, duration_us,"
        " client, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [dataclasses.astuple(call) for call in calls],  # fields in the INSERT's order
    )


def goes_to_handler(split: Split, request: Request, rid: str | None) -> bool:
    """Whether this request is one of the split's share for the new handler."""
    if split.header is not None and split.header in request.headers:
        return True
    if split.percent <= 0 or split.percent >= 100:
        return split.percent >= 100
    bucket = zlib.crc32(rid.encode()) % 100 if rid else random.randrange(100)
    return bucket < split.percent


def display_url(url: str) -> str:
    """``url`` without user information, for messages and listings."""
    return str(httpx.URL(url).copy_with(userinfo=b""))


class Forwarder:
    """A service of every process that serves HTTP: owns the one HTTP client that talks to
    upstreams, the current splits, and the buffer of recorded calls."""

    def __init__(self, routes: Iterable[ApiRoute] = ()) -> None:
        self.routes: dict[str, ApiRoute] = {}
        self.handled: set[str] = set()  # routes that have a new handler to split to
        for route in routes:
            self._know(route, route.handler is not None)
        self.stored: dict[str, StoredSplit] = {}
        self.recorder = Buffered("forwarded-calls", _insert_calls, interval=FLUSH, limit=MAX_BUFFER)
        self._generation = 0
        self._client: httpx.AsyncClient | None = None
        self._runtime: Runtime | None = None
        self._poller: asyncio.Task[None] | None = None

    def _know(self, route: ApiRoute, handled: bool) -> None:
        if route.upstream is not None:
            self.routes[route.key] = route
            if handled:
                self.handled.add(route.key)
            else:
                self.handled.discard(route.key)

    # -- the service ------------------------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._client = self._new_client(runtime)
        await self.refresh()
        await self.recorder.start(runtime)
        guard = runtime.health.guard("traffic-splits", log)
        self._poller = asyncio.create_task(guard.run(self._poll), name="artery-traffic-splits")

    def _new_client(self, runtime: Runtime) -> httpx.AsyncClient:
        """Through the address guard, which lets the declared upstreams through (a legacy
        system is usually inside) and nothing else; no redirect followed (one is the
        upstream's answer, relayed as is), no proxy from the environment."""
        upstreams = {httpx.URL(r.upstream).host for r in self.routes.values() if r.upstream}
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        return guarded_client(
            AddressPolicy.of(runtime.settings, declared=upstreams),
            timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT),
            inner=httpx.AsyncHTTPTransport(limits=limits),
            tracing=runtime.tracing if runtime.settings.tracing else None,
        )

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        try:
            await self.recorder.stop()  # flushes what it holds
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def _poll(self) -> None:
        await asyncio.sleep(POLL)
        await self.refresh()

    # -- splits ---------------------------------------------------------------------------

    def split_of(self, route: ApiRoute) -> Split:
        stored = self.stored.get(route.key)
        if stored is not None:
            return stored.split
        return route.split or Split()

    async def refresh(self) -> None:
        """Re-read the stored splits. A read that started before a newer one (say, the one
        after an admin change) does not overwrite what the newer one found."""
        self._generation += 1
        mine = self._generation
        rows = await self._store().read(
            lambda tx: tx.execute(
                "SELECT route, percent, header, changed_by, changed_at FROM traffic_splits"
            )
        )
        if mine == self._generation:
            self.stored = {
                str(route): StoredSplit(Split(int(percent), header), str(by), int(at))
                for route, percent, header, by, at in rows
            }

    async def set_split(self, key: str, split: Split | None, by: str) -> None:
        """Store ``split`` for route ``key`` (None: go back to the declared split); this
        process applies it at once, the others within ``POLL`` seconds."""
        now = time.time_ns() // 1000

        def write(tx: Tx) -> None:
            if split is None:
                tx.execute("DELETE FROM traffic_splits WHERE route = ?", (key,))
                return
            tx.execute(
                "INSERT INTO traffic_splits (route, percent, header, changed_by, changed_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (route) DO UPDATE SET"
                " percent = excluded.percent, header = excluded.header,"
                " changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                (key, split.percent, split.header, by, now),
            )

        await self._store().write(write)
        await self.refresh()

    # -- recording --------------------------------------------------------------------------

    def record(self, call: ForwardedCall) -> None:
        self.recorder.add(call)

    async def flush(self) -> None:
        """Write the recorded calls now (they are written every ``FLUSH`` seconds anyway)."""
        await self.recorder.flush()

    async def calls(self, limit: int, route: str | None = None) -> list[ForwardedCall]:
        """Recorded calls, newest first (in the order they were recorded)."""
        where, params = ("WHERE route = ?", [route]) if route else ("", [])
        rows = await self._store().read(
            lambda tx: tx.execute(
                "SELECT at, route, target, method, path, status, duration_us, client,"
                f" request_id FROM forwarded_calls {where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            )
        )
        return [ForwardedCall(*row) for row in rows]

    def _store(self) -> SqlStore:
        if self._runtime is None:
            raise ArteryError(
                "the strangler forwarder is not started", fix="start it with the HTTP server"
            )
        return self._runtime.store

    # -- the endpoint -----------------------------------------------------------------------

    def endpoint(self, route: ApiRoute, handler: Endpoint | None) -> Endpoint:
        """The endpoint of ``route``: forwarded to its upstream, or split between the
        upstream and ``handler`` (the route's new implementation). A route without an
        upstream is served by ``handler`` alone."""
        if route.upstream is None:
            if handler is None:
                raise ArteryError(f"route {route.key} has neither an upstream nor a handler")
            return handler
        self._know(route, handler is not None)

        async def forwarded(request: Request) -> Response:
            rid = request_id(request)
            to_handler = handler is not None and goes_to_handler(self.split_of(route), request, rid)
            target = "handler" if to_handler else "upstream"
            started = time.perf_counter()
            status = 500
            try:
                if handler is not None and to_handler:
                    response = await handler(request)
                else:
                    response = await self.forward(route, request)
                status = response.status_code
                return response
            except ArteryError as exc:
                status = exc.http_status
                raise
            except asyncio.CancelledError:
                status = 504  # the gate's timeout ended the call
                raise
            finally:
                self.record(
                    ForwardedCall(
                        at_us=time.time_ns() // 1000,
                        route=route.key,
                        target=target,
                        method=request.method,
                        path=request.url.path,
                        status=status,
                        duration_us=int((time.perf_counter() - started) * 1e6),
                        client=client_of(request),
                        request_id=rid,
                    )
                )

        return forwarded

    async def forward(self, route: ApiRoute, request: Request) -> Response:
        """Send ``request`` to the route's upstream and relay its answer; an upstream that
        is down is a 502, one that does not answer in time a 504."""
        if self._client is None:
            raise ArteryError(
                "the strangler forwarder is not started", fix="start it with the HTTP server"
            )
        assert route.upstream is not None
        raw_path = request.scope.get("raw_path")  # as the caller encoded it (%2F stays)
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        url = route.upstream.rstrip("/") + path
        if request.url.query:
            url += "?" + request.url.query
        body = await request.body()
        upstream = httpx.Request(
            request.method, url, headers=upstream_headers(request), content=body
        )
        where = display_url(route.upstream)
        try:
            async with asyncio.timeout(route.policy.timeout * UPSTREAM_SHARE):
                answer = await self._client.send(upstream, stream=True)
                try:
                    content = await _read_capped(answer, where)
                finally:
                    await answer.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise GatewayTimeout(
                f"the upstream {where} of {route.key} did not answer within"
                f" {route.policy.timeout * UPSTREAM_SHARE:g} s",
                fix="try again later; if it persists, tell the route's owner",
            ) from None
        except httpx.HTTPError as exc:
            raise BadGateway(
                f"the upstream {where} of {route.key} could not be reached ({type(exc).__name__})",
                fix="try again later; if it persists, tell the route's owner",
            ) from None
        relayed = Response(content=content, status_code=answer.status_code)
        relayed.raw_headers = [
            *relayed_headers(answer.headers.raw),
            (b"content-length", str(len(content)).encode()),
        ]
        return relayed


async def _read_capped(answer: httpx.Response, where: str) -> bytes:
    """The upstream's body as sent (still compressed, if it was), refused past the cap."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_raw():
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise BadGateway(
                f"the upstream {where} answered with more than {MAX_RESPONSE} bytes",
                fix="page the legacy endpoint's answers, or serve it from a new handler",
            )
        chunks.append(chunk)
    return b"".join(chunks)
