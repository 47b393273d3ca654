"""Outbound webhooks over real HTTP: signed so the partner's own libraries (standardwebhooks,
svix) verify them, retried on the destination's schedule, given up on 4xx, disabled on 410
and after a long failing streak, recorded attempt by attempt, resent on request, and never
held up by another destination that fails."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from receivers import NEW, OLD, Receiver, receiving, shop_app
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

from artery.gateway.server import Listen
from artery.webhooks.guard import AddressRefused
from artery.webhooks.schemes import StandardWebhooks
from support import admin_client, eventually


@pytest.fixture(autouse=True)
def erp_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ARTERY_SECRET_ERP_HOOK", NEW)
    yield


async def published(app: Any, total: int = 1) -> str:
    return str((await app.publish("shop.order", {"total": total})).id)


async def attempts(app: Any, name: str = "erp", **query: str) -> list[dict[str, Any]]:
    assert app.http is not None
    async with await admin_client(app, app.http.url) as admin:
        answer = await admin.get(f"/admin/destinations/{name}/attempts", params=query)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["attempts"]
    return found


async def interventions(app: Any) -> list[tuple[Any, ...]]:
    return await app.store.read(
        lambda tx: tx.execute("SELECT kind, integration, actor, detail FROM interventions")
    )


def running(app: Any):
    return app.running("run", listen=Listen("127.0.0.1", 0))


async def test_deliveries_verify_with_standardwebhooks_and_svix(
    store_url: str, tmp_path: Path
) -> None:
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(store_url, erp={"url": partner.url})
        async with running(app):
            event_id = await published(app, 42)
            await eventually(lambda: len(partner.received) == 1, "a delivery")
            (call,) = partner.received
            StandardWebhook(NEW).verify(call.body.decode(), call.headers)  # raises if not
            SvixWebhook(NEW).verify(call.body.decode(), call.headers)
            with pytest.raises(Exception, match=r"(?i)signature"):
                StandardWebhook(OLD).verify(call.body.decode(), call.headers)
            sent = orjson.loads(call.body)
            assert sent["id"] == event_id and sent["data"] == {"total": 42}
            assert call.headers["webhook-id"] == event_id
            assert orjson.loads(call.body)["type"] == "shop.order"
            await eventually(lambda: _delivered(app), "the attempt recorded", timeout=5)


async def _delivered(app: Any) -> bool:
    found = await attempts(app)
    return [a["outcome"] for a in found] == ["delivered"] and found[0]["status"] == 200


async def test_during_a_rotation_both_secrets_sign(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTERY_SECRET_ERP_HOOK", f"{NEW} {OLD}")
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            await published(app)
            await eventually(lambda: len(partner.received) == 1, "a delivery")
    (call,) = partner.received
    assert len(call.headers["webhook-signature"].split()) == 2
    for secret in (NEW, OLD):  # a receiver on either secret accepts it
        StandardWebhook(secret).verify(call.body, call.headers)


async def test_an_ed25519_key_signs_v1a(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    monkeypatch.setenv("ARTERY_SECRET_ERP_HOOK", "whsk_" + base64.b64encode(seed).decode())
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            await published(app)
            await eventually(lambda: len(partner.received) == 1, "a delivery")
    (call,) = partner.received
    assert call.headers["webhook-signature"].startswith("v1a,")
    whpk = "whpk_" + base64.b64encode(public).decode()
    headers = {k.lower(): v for k, v in call.headers.items()}
    assert StandardWebhooks().verify(headers, call.body, [whpk], int(headers["webhook-timestamp"]))


async def test_a_failing_endpoint_is_retried_until_it_answers(
    store_url: str, tmp_path: Path
) -> None:
    partner = Receiver(statuses=[503, 500, 200])
    async with receiving(tmp_path, partner):
        app = shop_app(store_url, erp={"url": partner.url})
        async with running(app):
            event_id = await published(app)
            await eventually(lambda: len(partner.received) == 3, "three attempts")
            assert set(partner.ids()) == {event_id}  # one id: the partner dedupes retries
            await eventually(lambda: _outcomes(app, ["failed", "failed", "delivered"]), "log")
            failed = await attempts(app, status="503")
            assert [a["attempt"] for a in failed] == [1]


async def _outcomes(app: Any, expected: list[str]) -> bool:
    found = await attempts(app)
    return [a["outcome"] for a in reversed(found)] == expected


async def test_a_4xx_is_not_retried_and_the_event_is_dead_lettered(
    sqlite_url: str, tmp_path: Path
) -> None:
    partner = Receiver(statuses=[422])
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            await published(app)
            await eventually(lambda: _dead(app, "webhook-erp"), "a dead letter")
            assert len(partner.received) == 1


async def _dead(app: Any, group: str) -> bool:
    assert app.http is not None
    async with await admin_client(app, app.http.url) as admin:
        answer = await admin.get("/admin/dead-letters", params={"group": group})
    return answer.status_code == 200 and len(answer.json()) == 1


async def test_a_429_waits_as_long_as_retry_after_says(sqlite_url: str, tmp_path: Path) -> None:
    partner = Receiver(statuses=[429, 200], headers={"Retry-After": "1"})
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            await published(app)
            await eventually(lambda: len(partner.received) == 2, "the retry")
            first, second = (await attempts(app))[::-1]
    gap = _seconds(second["at"]) - _seconds(first["at"])
    assert gap >= 0.9  # not the 0.05 s of the schedule


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_410_gone_disables_the_destination_and_says_so(
    sqlite_url: str, tmp_path: Path
) -> None:
    partner = Receiver(statuses=[410])
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            await published(app)
            await eventually(lambda: _disabled_events(app), "the disabled event")
            await published(app)  # skipped: the destination is disabled
            await eventually(lambda: _outcomes(app, ["failed", "skipped"]), "a skip")
            assert len(partner.received) == 1
            assert app.http is not None
            async with await admin_client(app, app.http.url) as admin:
                (erp,) = (await admin.get("/admin/destinations")).json()["destinations"]
            assert erp["enabled"] is False and "410" in erp["disabled_reason"]


async def _disabled_events(app: Any) -> bool:
    heads = await app.log.heads("artery.destination.disabled")
    return sum(heads.values()) == 1


async def test_a_destination_failing_past_disable_after_is_disabled(
    sqlite_url: str, tmp_path: Path
) -> None:
    partner = Receiver(statuses=[500])
    async with receiving(tmp_path, partner):
        app = shop_app(
            sqlite_url, erp={"url": partner.url, "disable_after": "0.1s", "schedule": ["0.1s"] * 5}
        )
        async with running(app):
            await published(app)
            await eventually(lambda: _disabled_events(app), "disabled after the streak")


async def test_one_failing_destination_does_not_delay_another(
    sqlite_url: str, tmp_path: Path
) -> None:
    broken, healthy = Receiver(statuses=[500]), Receiver()
    async with receiving(tmp_path, broken, healthy):
        app = shop_app(
            sqlite_url,
            broken={"url": broken.url, "schedule": ["10s"] * 3},
            healthy={"url": healthy.url},
        )
        async with running(app):
            for total in range(20):
                await published(app, total)
            await eventually(lambda: len(healthy.received) == 20, "all 20 to the healthy one")
            assert 1 <= len(broken.received) <= 20  # tried, failing, each retry 10 s away


async def test_a_filter_sends_only_the_events_it_selects(sqlite_url: str, tmp_path: Path) -> None:
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url, "filter": "total > `100`"})
        async with running(app):
            await published(app, 5)
            big = await published(app, 500)
            await eventually(lambda: len(partner.received) == 1, "the big order")
    assert partner.ids() == [big]


async def test_a_person_can_resend_a_delivered_event(sqlite_url: str, tmp_path: Path) -> None:
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            event_id = await published(app)
            await eventually(lambda: len(partner.received) == 1, "the delivery")
            assert app.http is not None
            async with await admin_client(app, app.http.url) as admin:
                answer = await admin.post(
                    "/admin/destinations/erp/resend", json={"event_id": event_id}
                )
                assert answer.status_code == 200, answer.text
                missing = await admin.post("/admin/destinations/erp/resend", json={"event_id": "x"})
                assert missing.status_code == 404
            assert partner.ids() == [event_id, event_id]
            found = await attempts(app)
            assert [(a["trigger"], a["attempt"]) for a in found] == [("resend", 2), ("delivery", 1)]
            # a person's act, on the record (the refused one is not)
            assert await interventions(app) == [
                ("resend", "shop", "tests", f"event {event_id!r} to 'erp': delivered")
            ]


async def test_an_inside_address_stops_the_start(sqlite_url: str) -> None:
    app = shop_app(sqlite_url, erp={"url": "https://169.254.169.254/latest/meta-data/"})
    with pytest.raises(AddressRefused, match="metadata"):
        async with running(app):
            pass


async def test_the_admin_api_needs_credentials(sqlite_url: str, tmp_path: Path) -> None:
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app), httpx.AsyncClient() as anonymous:
            assert app.http is not None
            answer = await anonymous.get(app.http.url + "/admin/destinations")
            assert answer.status_code == 401


# -- destinations made at run time -------------------------------------------------------------


async def test_a_destination_created_over_the_admin_api_is_delivered_to_then_deleted(
    store_url: str, tmp_path: Path
) -> None:
    first, moved = Receiver(), Receiver()
    async with receiving(tmp_path, first, moved):
        app = shop_app(store_url)  # nothing declared in code
        async with running(app):
            assert app.http is not None
            async with await admin_client(app, app.http.url) as admin:
                spec = {
                    "name": "crm",
                    "url": first.url,
                    "events": ["shop.order"],
                    "secret": "erp-hook",
                    "schedule": ["0.05s"],
                }
                made = await admin.post("/admin/destinations", json=spec)
                assert made.status_code == 201, made.text
                again = await admin.post("/admin/destinations", json=spec)
                assert again.status_code == 409
                one = await published(app)
                await eventually(lambda: first.ids() == [one], "delivery to the new one")
                spec.pop("name")
                changed = await admin.put(
                    "/admin/destinations/crm", json={**spec, "url": moved.url}
                )
                assert changed.status_code == 200, changed.text
                two = await published(app)
                await eventually(lambda: moved.ids() == [two], "delivery to the new URL")
                gone = await admin.delete("/admin/destinations/crm")
                assert gone.status_code == 200, gone.text
                await published(app)
                await asyncio.sleep(0.5)
                # at least once: a change restarts the destination's consumer, which may
                # send an event whose offset it had not committed yet again
                assert set(first.ids()) == {one} and set(moved.ids()) == {two}
                listed = (await admin.get("/admin/destinations")).json()["destinations"]
                assert listed == []


async def test_run_time_destinations_are_checked_like_declared_ones(
    sqlite_url: str, tmp_path: Path
) -> None:
    partner = Receiver()
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url})
        async with running(app):
            assert app.http is not None
            async with await admin_client(app, app.http.url) as admin:
                base = {"events": ["shop.order"], "secret": "erp-hook"}
                inside = await admin.post(
                    "/admin/destinations",
                    json={"name": "meta", "url": "https://169.254.169.254/", **base},
                )
                assert inside.status_code == 422
                assert inside.json()["type"].endswith("artery.address-refused")
                unknown = await admin.post(
                    "/admin/destinations",
                    json={
                        "name": "x",
                        "url": partner.url,
                        "events": ["nope.*"],
                        "secret": "erp-hook",
                    },
                )
                assert unknown.status_code == 400
                code = await admin.put("/admin/destinations/erp", json={"url": partner.url, **base})
                assert code.status_code == 409  # declared in code: changed in code
                pasted = await admin.post(
                    "/admin/destinations",
                    json={
                        "name": "y",
                        "url": partner.url,
                        "events": ["shop.order"],
                        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La",
                    },
                )
                assert pasted.status_code == 400
                assert "MfKQ9r8" not in pasted.text


async def test_an_ordered_destination_holds_later_events_behind_a_failing_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    partner = Receiver(statuses=[500, 500, 200])
    async with receiving(tmp_path, partner):
        app = shop_app(sqlite_url, erp={"url": partner.url, "ordered": True})
        async with running(app):
            first = (await app.publish("shop.order", {"total": 1}, key="customer-7")).id
            second = (await app.publish("shop.order", {"total": 2}, key="customer-7")).id
            await eventually(lambda: len(partner.received) == 4, "both delivered")
    assert partner.ids() == [first, first, first, second]


async def test_a_time_range_is_replayed_to_one_destination(sqlite_url: str, tmp_path: Path) -> None:
    erp, crm = Receiver(), Receiver()
    async with receiving(tmp_path, erp, crm):
        app = shop_app(sqlite_url, erp={"url": erp.url}, crm={"url": crm.url})
        async with running(app):
            early = await published(app, 1)
            await eventually(lambda: len(erp.received) == 1, "the first delivery")
            await asyncio.sleep(0.05)
            middle = datetime.now(UTC).isoformat()
            late = [await published(app, n) for n in (2, 3)]
            await eventually(lambda: len(erp.received) == 3 and len(crm.received) == 3, "all")
            assert app.http is not None
            async with await admin_client(app, app.http.url) as admin:
                answer = await admin.post("/admin/destinations/erp/replay", json={"since": middle})
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcomes"] == {"delivered": 2}
            ((kind, integration, actor, detail),) = await interventions(app)
            assert (kind, integration, actor) == ("replay", "shop", "tests")
            assert detail.startswith("2 event(s) to 'erp' from ")
    ids = erp.ids()
    assert ids[0] == early and sorted(ids[1:]) == sorted(late * 2)  # the range, once more
    assert len(crm.received) == 3  # the other destination is untouched
