"""The ledger under a flood of bad calls: every rejection counted exactly, only the last
``KEPT`` per source kept (redacted when written), and nothing lost when a write fails."""

from __future__ import annotations

import orjson
import pytest

from artery.store import SqlStore
from artery.webhooks.ledger import KEPT, REDACTED, Ledger, Rejection
from artery.webhooks.sources import source


def ledger() -> Ledger:
    shop = source(
        "shop", integration="t", scheme="standard-webhooks", secret="x", emits="shop.order"
    )
    return Ledger([shop], clock=lambda: 1_000.0)


def rejection(n: int, reason: str = "bad-signature") -> Rejection:
    return Rejection(
        source="shop",
        at_us=n,
        reason=reason,
        status=401,
        detail="the signature does not match",
        request_id=f"req-{n}",
        headers={"webhook-signature": f"v1,secret-{n}", "webhook-id": f"msg_{n}"},
        body=orjson.dumps({"n": n, "email": f"person{n}@example.com"}),
    )


async def test_a_flood_is_counted_exactly_and_only_the_newest_calls_are_kept(
    store: SqlStore,
) -> None:
    kept = ledger()
    kept.attach(store)
    for n in range(KEPT * 3):
        kept.rejected(rejection(n))
    kept.rejected(rejection(KEPT * 3, reason="stale-timestamp"))
    (status,) = await kept.status()
    assert status["rejected"] == {"bad-signature": KEPT * 3, "stale-timestamp": 1}
    shown = await kept.rejections("shop")
    assert [r["request_id"] for r in shown] == [f"req-{n}" for n in range(KEPT * 3, KEPT * 2, -1)]
    newest = shown[0]
    assert newest["headers"] == {"webhook-signature": REDACTED, "webhook-id": f"msg_{KEPT * 3}"}
    assert newest["body"] == {"n": "<number>", "email": "<string>"}
    assert "example.com" not in orjson.dumps(shown).decode()


async def test_a_failed_write_keeps_counts_and_calls_for_the_next(store: SqlStore) -> None:
    kept = ledger()
    kept.attach(store)
    for n in range(3):
        kept.rejected(rejection(n))

    async def failing(fn: object) -> None:
        raise OSError("disk full")

    real = store.write
    store.write = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await kept.flush()
    store.write = real  # type: ignore[method-assign]
    kept.rejected(rejection(3))
    (status,) = await kept.status()
    assert status["rejected"] == {"bad-signature": 4}
    shown = await kept.rejections("shop")
    assert [r["request_id"] for r in shown] == ["req-3", "req-2", "req-1", "req-0"]
