"""API keys: shown once, stored as a hash, found by their visible prefix; expiry,
revocation and last use; refused with RFC 6750 challenges that never echo the key."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from artery.config import Settings
from artery.errors import ConfigError, NotFound, Unauthenticated
from artery.gateway.auth.keys import CACHE_SECONDS, KEY, ApiKeys
from artery.runtime import Runtime
from artery.store import SqlStore

pytestmark = pytest.mark.asyncio


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_shown_once_and_only_its_hash_is_stored(store: SqlStore) -> None:
    secret, key = await ApiKeys(store).create("erp-sync", ["orders:write", "orders:read"])
    assert KEY.match(secret) and secret.startswith(key.prefix + "_")
    rows = await store.read(lambda tx: tx.execute("SELECT * FROM api_keys"))
    assert len(rows) == 1
    assert all(secret not in str(value) for value in rows[0])
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    principal = await ApiKeys(store).verify(secret)
    assert principal.subject == "erp-sync"
    assert principal.credential == f"key:{key.prefix}"
    assert principal.scopes == {"orders:write", "orders:read"}


async def test_a_wrong_or_malformed_key_is_refused_without_echoing_it(store: SqlStore) -> None:
    secret, _ = await ApiKeys(store).create("erp", ["a"])
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bad, why in ((forged, "unknown key"), ("ak_nothing", "malformed key")):
        with pytest.raises(Unauthenticated) as caught:
            await ApiKeys(store).verify(bad)
        challenge = caught.value.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="artery", error="invalid_token"')
        assert why in challenge and bad not in str(caught.value) and bad not in challenge


async def test_revoked_and_expired_keys_stop_working(store: SqlStore) -> None:
    clock = Clock()
    keys = ApiKeys(store, clock=clock)
    revoked, first = await keys.create("old", ["a"])
    expiring, _ = await keys.create("temp", ["a"], expires_in=60)
    await keys.verify(expiring)
    await keys.revoke(first.prefix)
    with pytest.raises(Unauthenticated, match="is revoked"):
        await keys.verify(revoked)
    clock.now += 61
    other_process = ApiKeys(store, clock=clock)  # no cache: reads the row
    with pytest.raises(Unauthenticated, match="is expired"):
        await other_process.verify(expiring)
    statuses = {k.name: k.status(clock.now) for k in await keys.listed()}
    assert statuses == {"old": "revoked", "temp": "expired"}
    assert await keys.active() == 0


async def test_a_revocation_reaches_another_process_within_the_cache_time(
    store: SqlStore,
) -> None:
    gateway, admin = ApiKeys(store), ApiKeys(store)
    secret, key = await admin.create("erp", ["a"])
    await gateway.verify(secret)  # cached now
    await admin.revoke(key.prefix)
    await asyncio.sleep(CACHE_SECONDS + 0.05)
    with pytest.raises(Unauthenticated, match="revoked"):
        await gateway.verify(secret)


async def test_last_use_is_written_in_the_background(store: SqlStore) -> None:
    keys = ApiKeys(store)
    secret, _ = await keys.create("erp", ["a"])
    assert (await keys.listed())[0].last_used_at is None
    await keys.start(Runtime(Settings(), store, None, None))  # type: ignore[arg-type]
    await keys.verify(secret)
    await keys.stop()  # flushes
    (listed,) = await keys.listed()
    assert listed.last_used_at is not None


async def test_bad_names_scopes_and_prefixes_are_refused_with_the_fix(store: SqlStore) -> None:
    keys = ApiKeys(store)
    with pytest.raises(ConfigError, match="name"):
        await keys.create("a/b", [])
    with pytest.raises(ConfigError, match="one string"):
        await keys.create("erp", "orders:write")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a scope"):
        await keys.create("erp", ["orders write"])
    with pytest.raises(ConfigError, match="future"):
        await keys.create("erp", [], expires_in=0)
    with pytest.raises(NotFound, match="artery keys list"):
        await keys.revoke("ak_00000000")
    assert await keys.listed() == []
