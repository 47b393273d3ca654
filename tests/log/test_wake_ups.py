"""Another process's append wakes this process's consumers: two ``EventLog``s over two
opened stores (as two processes have), one appends, the other's ``appended`` signal is
set: by PostgreSQL's LISTEN/NOTIFY, SQLite's unix datagrams after commit, or the JetStream
backend's announcement over core NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from artery.contracts import Registry
from artery.envelope import Event
from artery.log import EventLog, StoreLog
from artery.store import SqlStore, open_store

ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


async def opened(store: SqlStore, backend: StoreLog) -> EventLog:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    event_log = EventLog(backend, registry)
    await event_log.create_topic("orders", "orders", partitions=2)
    return event_log


@pytest.fixture
async def elsewhere(store_url: str, log_url: str) -> AsyncIterator[EventLog]:
    """The same log as another process opens it: its own store connections."""
    store = await open_store(store_url)
    if log_url:
        from artery.log.jetstream import JetStreamLog, connect

        connection, prefix = await connect(log_url)
        backend: StoreLog = JetStreamLog(store, connection, prefix)
    else:
        backend = StoreLog(store)
    found = await opened(store, backend)
    yield found
    await found.close()
    await backend.close()
    await store.close()


async def test_an_append_in_another_process_wakes_this_ones_consumers(
    store: SqlStore, backend: StoreLog, elsewhere: EventLog
) -> None:
    here = await opened(store, backend)
    try:
        assert not here.following
        signal = here.appended("orders")
        await asyncio.sleep(0.5)
        assert here.following  # the feed is live: consumers here may poll less often
        assert not signal.is_set()
        await elsewhere.append("orders", [Event(type="orders", source="t", data={"n": 1})])
        await asyncio.wait_for(signal.wait(), timeout=5)
    finally:
        await here.close()
