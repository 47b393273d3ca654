"""Partition leases: which worker process serves which partitions of a consumer group.

Each worker heartbeats a row in ``workers`` and, every ``ttl / 3``, balances: it renews the
leases it holds, gives up the ones above its fair share (``ceil(partitions / live
workers)``) and takes free or expired ones up to that share. A dead worker's partitions are
taken over once its leases expire, so takeover is bounded by ``ttl`` plus one balance.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from dataclasses import dataclass

from artery.store import Store, Tx

# Every transaction that locks a group's leases locks all of them, in partition order.
_LOCK_LEASES = (
    "SELECT partition, owner, expires_at FROM partition_leases"
    " WHERE group_name = ? AND topic = ? ORDER BY partition"
)


def now_us() -> int:
    return int(time.time() * 1_000_000)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Assignment:
    keep: frozenset[int]  # partitions this worker holds now (renewed or newly taken)
    surplus: frozenset[int]  # held, but above the fair share: drain, then release


class Leases:
    def __init__(self, store: Store, worker_id: str, ttl: float = 10.0) -> None:
        self.store = store
        self.worker_id = worker_id
        self.ttl_us = int(ttl * 1_000_000)

    async def heartbeat(self) -> None:
        stamp = now_us()
        await self.store.write(
            lambda tx: tx.execute(
                "INSERT INTO workers (worker_id, host, pid, started_at, heartbeat_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker_id)"
                " DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (self.worker_id, socket.gethostname(), os.getpid(), stamp, stamp),
            )
        )

    async def balance(self, group: str, topic: str, partitions: int) -> Assignment:
        return await self.store.write(lambda tx: self._balance(tx, group, topic, partitions))

    def _balance(self, tx: Tx, group: str, topic: str, partitions: int) -> Assignment:
        stamp = now_us()
        live = tx.one("SELECT COUNT(*) FROM workers WHERE heartbeat_at > ?", (stamp - self.ttl_us,))
        share = math.ceil(partitions / max(1, int(live[0]) if live else 1))
        rows = tx.execute(_LOCK_LEASES + tx.dialect.for_update, (group, topic))
        held = {int(p): (o, int(e)) for p, o, e in rows}
        mine = sorted(p for p, (o, e) in held.items() if o == self.worker_id and e > stamp)
        free = [p for p in range(partitions) if p not in held or held[p][1] <= stamp]
        keep = mine[:share]
        surplus = mine[share:]
        for p in free:
            if len(keep) >= share:
                break
            if p not in keep:
                keep.append(p)
        expires = stamp + self.ttl_us
        won = {p for p in [*keep, *surplus] if self._claim(tx, group, topic, p, expires, stamp)}
        return Assignment(frozenset(won & set(keep)), frozenset(won & set(surplus)))

    def _claim(
        self, tx: Tx, group: str, topic: str, partition: int, expires: int, stamp: int
    ) -> bool:
        """Renew or take one lease; False if another worker holds it. A free partition has no
        row to lock, so two workers may both see it free: the insert of the second one waits
        for the first and then, finding a live lease of another owner, takes nothing."""
        row = tx.one(
            "INSERT INTO partition_leases (group_name, topic, partition, owner, expires_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_name, topic, partition)"
            " DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE partition_leases.owner = excluded.owner"
            " OR partition_leases.expires_at <= ? RETURNING partition",
            (group, topic, partition, self.worker_id, expires, stamp),
        )
        return row is not None

    def holds(self, tx: Tx, group: str, topic: str, partition: int) -> bool:
        """Whether this worker still holds the partition, checked inside the caller's write.
        It locks the lease rows, so a write fenced by it commits before the next owner takes
        the partition (and is seen by it) or not at all. All of the group's rows are locked,
        in the order ``balance`` and ``commit`` lock them, so batched writes of several
        workers cannot deadlock on them."""
        rows = tx.execute(_LOCK_LEASES + tx.dialect.for_update, (group, topic))
        stamp = now_us()
        return any(
            int(p) == partition and owner == self.worker_id and int(expires) > stamp
            for p, owner, expires in rows
        )

    async def release(self, group: str, topic: str, partitions: set[int] | frozenset[int]) -> None:
        rows = [(group, topic, p, self.worker_id) for p in partitions]
        await self.store.write(
            lambda tx: tx.executemany(
                "DELETE FROM partition_leases WHERE group_name = ? AND topic = ?"
                " AND partition = ? AND owner = ?",
                rows,
            )
        )

    async def leave(self) -> None:
        """Give up everything at once (graceful shutdown), so others take over now."""
        await self.store.write(
            lambda tx: (
                tx.execute("DELETE FROM partition_leases WHERE owner = ?", (self.worker_id,)),
                tx.execute("DELETE FROM workers WHERE worker_id = ?", (self.worker_id,)),
            )
        )

    async def commit(
        self, group: str, topic: str, moves: dict[int, tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        """Move offsets ``{partition: (expected, new)}`` for partitions this worker still
        holds. Fencing: a worker that lost its lease cannot move the group. Compare-and-set:
        a position someone else changed (a replay) is left as they set it. Returns the
        partitions whose lease is gone and those whose position was changed under us."""

        def op(tx: Tx) -> tuple[set[int], set[int]]:
            rows = tx.execute(_LOCK_LEASES + tx.dialect.for_update, (group, topic))
            held = {int(p) for p, owner, _ in rows if owner == self.worker_id}
            moved_elsewhere = set()
            stamp = now_us()
            for partition, (expected, new) in moves.items():
                if partition not in held:
                    continue
                done = tx.one(
                    "UPDATE group_offsets SET next_offset = ?, updated_at = ?"
                    " WHERE group_name = ? AND topic = ? AND partition = ? AND next_offset = ?"
                    " RETURNING partition",
                    (new, stamp, group, topic, partition, expected),
                )
                if done is None:
                    moved_elsewhere.add(partition)
            return set(moves) - held, moved_elsewhere

        return await self.store.write(op)
