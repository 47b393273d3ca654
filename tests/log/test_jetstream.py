"""What differs by design on JetStream: a batch is all-or-some, never twice (JetStream
cannot append several messages atomically), and an unreachable server is a clear
``StoreUnavailable``. Everything else the log promises is in ``test_event_log.py``, run on
every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from artery.contracts import Registry
from artery.envelope import Event
from artery.errors import StoreUnavailable
from artery.log import EventLog
from artery.store import SqlStore


@pytest.fixture
def backend_name() -> str:
    """This module is about JetStream alone."""
    return "jetstream"


ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.fixture
async def log(store: SqlStore, backend: Any) -> AsyncIterator[EventLog]:
    registry = Registry(store)
    await registry.register("orders", ORDER)
    event_log = EventLog(backend, registry)
    await event_log.create_topic("orders", "orders", partitions=1)
    yield event_log


def orders(count: int, key: str | None = None) -> list[Event]:
    return [
        Event(type="orders", source="test", data={"n": n}, idempotencykey=key and f"{key}-{n}")
        for n in range(count)
    ]


def failing_from(log: EventLog, index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """JetStream refuses the batch's messages from ``index`` on, this once."""
    js = log.backend.js  # type: ignore[attr-defined]
    real = js.publish
    calls = 0

    async def publish(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > index:
            raise TimeoutError("injected: no acknowledgement")
        return await real(*args, **kwargs)

    monkeypatch.setattr(js, "publish", publish)


async def test_a_batch_cut_short_says_how_much_was_stored_and_a_retry_stores_the_rest_once(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = orders(5)
    with monkeypatch.context() as patched:
        failing_from(log, 2, patched)
        with pytest.raises(StoreUnavailable, match="stored 2 of 5") as refused:
            await log.append("orders", batch)
    assert "again" in (refused.value.fix or "")
    again = await log.append("orders", batch)  # the same events: the same ids
    stored = await log.read("orders", 0, 0, 100)
    assert [e.id for e in stored] == [e.id for e in batch]  # each once, in order
    assert [e.offset for e in stored] == [0, 1, 2, 3, 4]  # dense
    assert [e.offset for e in again] == [0, 1, 2, 3, 4]


async def test_a_key_whose_event_was_not_stored_is_free_again(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        failing_from(log, 0, patched)
        with pytest.raises(StoreUnavailable):
            await log.append("orders", orders(1, key="k"))
    (stored,) = await log.append("orders", orders(1, key="k"))
    (repeat,) = await log.append("orders", orders(1, key="k"))
    assert repeat.id == stored.id and repeat.offset == stored.offset == 0


async def test_topics_whose_names_escape_alike_get_streams_of_their_own(log: EventLog) -> None:
    await log.registry.register("a.b", ORDER)
    await log.registry.register("a_b", ORDER)
    await log.create_topic("a.b", "a.b", partitions=1)
    await log.create_topic("a_b", "a_b", partitions=1)
    await log.append("a.b", [Event(type="a.b", source="t", data={"n": 1})])
    assert await log.heads("a.b") == {0: 1} and await log.heads("a_b") == {0: 0}


async def test_an_unreachable_server_is_a_clear_error() -> None:
    from artery.log.jetstream import connect

    with pytest.raises(StoreUnavailable, match="cannot reach NATS") as refused:
        await connect("nats://127.0.0.1:9")
    assert "nats-server" in (refused.value.fix or "")


def test_a_log_url_that_is_not_nats_is_refused() -> None:
    import asyncio

    from artery.errors import ConfigError
    from artery.log.jetstream import connect

    with pytest.raises(ConfigError, match="nats://"):
        asyncio.run(connect("kafka://127.0.0.1:9092"))
