"""Versions side by side over real HTTP: ``/v1`` and ``/v2`` of one resource served at once,
the deprecated one answering ``Deprecation``/``Sunset``/``Link`` exactly, and its calls
counted per client, flushed to the store and listed by ``GET /admin/deprecations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from routes_harness import serve

from artery import App
from artery.config import Settings
from artery.gateway.api import Call
from artery.gateway.policy import Deprecation
from artery.gateway.versions import Deprecations, headers
from support import eventually

DEPRECATED = Deprecation(
    at=datetime(2026, 1, 1, tzinfo=UTC),
    sunset=datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC),
    successor="/v2/orders/{order_id}",
)


def declare(store_url: str) -> App:
    app = App("shop", settings=Settings.load(store=store_url))

    @app.route("GET", "/v1/orders/{order_id}", scopes=["orders:read"], deprecated=DEPRECATED)
    async def order_v1(call: Call) -> Any:
        return {"id": call.path["order_id"], "total": "12.50"}

    @app.route("GET", "/v2/orders/{order_id}", scopes=["orders:read"])
    async def order_v2(call: Call) -> Any:
        return {"id": call.path["order_id"], "total": {"amount": 1250, "currency": "EUR"}}

    return app


def test_headers_are_rfc_9745_and_8594() -> None:
    assert headers(DEPRECATED) == {
        "Deprecation": "@1767225600",
        "Sunset": "Wed, 30 Jun 2027 23:59:59 GMT",
        "Link": '</v2/orders/{order_id}>; rel="successor-version"',
    }
    assert headers(Deprecation(at=datetime(2026, 1, 1, tzinfo=UTC))) == {
        "Deprecation": "@1767225600"
    }


async def test_v1_and_v2_are_served_side_by_side_and_only_v1_is_deprecated(
    store_url: str,
) -> None:
    async with serve(declare(store_url)) as served, served.client() as http:
        old = await http.get("/v1/orders/o-1")
        new = await http.get("/v2/orders/o-1")
        assert old.json() == {"id": "o-1", "total": "12.50"}
        assert new.json() == {"id": "o-1", "total": {"amount": 1250, "currency": "EUR"}}
        assert old.headers["deprecation"] == "@1767225600"
        assert old.headers["sunset"] == "Wed, 30 Jun 2027 23:59:59 GMT"
        assert old.headers["link"] == '</v2/orders/{order_id}>; rel="successor-version"'
        for name in ("deprecation", "sunset", "link"):
            assert name not in new.headers


async def test_calls_of_a_deprecated_route_are_counted_per_client(store_url: str) -> None:
    async with (
        serve(declare(store_url)) as served,
        served.client("orders") as orders,
        served.client("other") as other,
    ):
        for _ in range(3):
            assert (await orders.get("/v1/orders/o-1")).status_code == 200
        await other.get("/v1/orders/o-2")
        await other.get("/v2/orders/o-2")  # not deprecated: not counted

        mine, theirs = served.credential("orders"), served.credential("other")

        async def flushed() -> bool:
            rows = await served.app.store.read(
                lambda tx: tx.execute("SELECT client, calls FROM deprecated_calls")
            )
            return sorted((r[0], int(r[1])) for r in rows) == sorted([(mine, 3), (theirs, 1)])

        await eventually(flushed, "the counts flushed by the background loop")
        async with served.client("admin") as admin:
            listing = (await admin.get("/admin/deprecations")).json()["deprecations"]
        assert sorted((r["route"], r["client"], r["calls"]) for r in listing) == sorted(
            [("GET /v1/orders/{order_id}", mine, 3), ("GET /v1/orders/{order_id}", theirs, 1)]
        )
        assert listing[0]["client"] == theirs  # the latest caller first
        for row in listing:
            assert row["first_call"] <= row["last_call"] and row["last_call"].endswith("Z")


async def test_deprecation_counts_are_listed_only_to_admin_read(sqlite_url: str) -> None:
    async with serve(declare(sqlite_url)) as served, served.client("orders") as orders:
        refused = await orders.get("/admin/deprecations")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        anonymous = await orders.get("/admin/deprecations", headers={"Authorization": ""})
        assert anonymous.status_code == 401


async def test_counts_are_added_across_flushes_and_kept_at_stop(sqlite_url: str) -> None:
    app = declare(sqlite_url)
    async with app.running(None):
        counts = Deprecations(flush_every=3600)  # only stop() flushes
        await counts.start(app.runtime)
        counts.called("GET /v1/x", "key:a")
        await counts.flush()
        counts.called("GET /v1/x", "key:a")
        counts.called("GET /v1/x", "key:b")
        await counts.stop()
        rows = await app.store.read(
            lambda tx: tx.execute(
                "SELECT client, calls, first_at <= last_at FROM deprecated_calls ORDER BY client"
            )
        )
        assert [(r[0], int(r[1]), bool(r[2])) for r in rows] == [
            ("key:a", 2, True),
            ("key:b", 1, True),
        ]
