"""A small HTTP/1.1 load generator for ``bench/gateway.py``, run in its own process.

    python bench/gateway_support/load.py URL --body FILE [--header "Name: value"]...
        --connections 64 --seconds 10 [--rate 2000] [--warmup 1]

Every connection is a raw asyncio stream (uvloop when installed) kept alive for the whole
run; each request is the same POST. Two modes:

* closed loop (no ``--rate``): every connection sends its next request as soon as the last
  one is answered, the way wrk does; latency is send to answer.
* constant rate (``--rate R``): requests are scheduled every 1/R s from the start, and a free
  connection takes the next one due; latency is measured from when the request was *due*,
  not when it was sent, so a stalled server is charged for the requests it delayed (the
  coordinated-omission correction of wrk2, which Debian's wrk lacks).

Requests answered during ``--warmup`` are not counted. Prints one JSON object: requests,
seconds, requests/s, statuses, errors, and latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import orjson


class Connection:
    """One kept-alive HTTP/1.1 connection sending the same request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        """Send ``request``; the answer's status once its whole body has arrived."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            await self.reader.readuntil(b"0\r\n\r\n")
        elif length:
            await self.reader.readexactly(length)
        return status


def build_request(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    host, port, request = build_request(args.url, args.payload, args.header)
    # --headers-file: one JSON list of "Name: value" per line, each request takes the next
    # (signed webhooks: a fresh id and signature per call, or every call is a duplicate)
    variants = [
        build_request(args.url, args.payload, [*args.header, *orjson.loads(line)])[2]
        for line in (Path(args.headers_file).read_bytes().splitlines() if args.headers_file else [])
    ]
    taken = 0

    def next_request() -> bytes:
        nonlocal taken
        if not variants:
            return request
        taken += 1
        return variants[(taken - 1) % len(variants)]

    connections = [
        Connection(*await asyncio.open_connection(host, port)) for _ in range(args.connections)
    ]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    counted_from = start + args.warmup
    end = counted_from + args.seconds
    due_times: asyncio.Queue[float | None] | None = asyncio.Queue() if args.rate else None

    async def client(conn: Connection) -> None:
        while True:
            if due_times is None:
                sent = time.perf_counter()
                if sent >= end:
                    return
            else:
                due = await due_times.get()
                if due is None:
                    return
                sent = due
            try:
                status = await conn.exchange(next_request())
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                return
            done = time.perf_counter()
            if done >= counted_from and sent < end:
                statuses[status] += 1
                latencies.append(done - sent)

    async def schedule() -> None:
        assert due_times is not None
        sent = 0
        while (now := time.perf_counter()) < end:
            due = int((now - start) * args.rate)
            for n in range(sent, due):
                due_times.put_nowait(start + n / args.rate)
            sent = max(sent, due)
            await asyncio.sleep(0.0005)

    tasks = [asyncio.create_task(client(c)) for c in connections]
    if due_times is not None:
        await schedule()
        for _ in tasks:
            due_times.put_nowait(None)  # each client stops once the queue before it is done
        # Requests still queued at the end count as late as they are: wait for them, for a
        # while; those never sent are reported as unfinished.
        _, late = await asyncio.wait(tasks, timeout=max(5.0, args.seconds))
        unfinished = due_times.qsize() - (len(tasks) - sum(t.done() for t in tasks))
        if late:
            errors["unfinished"] += max(unfinished, 0) + len(late)
        for task in late:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for conn in connections:
        conn.writer.close()
        with contextlib.suppress(Exception):
            await conn.writer.wait_closed()
    latencies.sort()
    counted = len(latencies)
    return {
        "requests": counted,
        "seconds": args.seconds,
        "rps": counted / args.seconds,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": dict(errors),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("--body", required=True, help="file holding the JSON body")
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, help="requests/s, scheduled (open loop)")
    parser.add_argument("--headers-file", help="JSON lines of extra headers, one per request")
    args = parser.parse_args()
    args.payload = Path(args.body).read_bytes()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(args))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
