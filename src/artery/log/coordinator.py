"""The embedded log's ``GroupCoordinator``: partition leases as rows in the ``Store``.

Each worker heartbeats a row in ``workers`` and, every ``ttl / 3``, balances: it renews the
leases it holds, gives up the ones above its fair share (``ceil(partitions / live
workers)``) and takes free or expired ones up to that share. A dead worker's partitions are
taken over once its leases expire, so takeover is bounded by ``ttl`` plus one balance.
Leases and group positions share the store, so a position moves in the transaction that
checks the lease (see ``StoreCoordinator.commit``).
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping

from artery.clock import now_us
from artery.log.protocol import Assignment
from artery.store.protocol import Store, Tx

# Every transaction that locks a group's leases locks all of them, in partition order.
_LOCK_LEASES = (
    "SELECT partition, owner, expires_at FROM partition_leases"
    " WHERE group_name = ? AND topic = ? ORDER BY partition"
)


class StoreCoordinator:
    """``GroupCoordinator`` over a ``Store``; ``holds`` must get a write transaction of
    that same store."""

    def __init__(self, store: Store, worker_id: str, ttl: float = 10.0) -> None:
        self.store = store
        self.worker_id = worker_id
        self.ttl_us = int(ttl * 1_000_000)
        # The lease rows locked by the store's current write transaction (see ``_locked_rows``).
        self._locked_in: Tx | None = None
        self._locked: dict[tuple[str, str], dict[int, tuple[str, int]]] = {}

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
        held = self._locked_rows(tx, group, topic)
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
        self._forget(tx)  # the rows just changed: a later check in this transaction reads them
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
        The lease rows are locked, so a write fenced by it commits before the next owner
        takes the partition (and is seen by it) or not at all."""
        owner, expires = self._locked_rows(tx, group, topic).get(partition, ("", 0))
        return owner == self.worker_id and expires > now_us()

    def _locked_rows(self, tx: Tx, group: str, topic: str) -> dict[int, tuple[str, int]]:
        """The group's lease rows ``{partition: (owner, expires)}``, locked (all of them, in
        partition order, as every transaction locks them, so that batched writes of several
        workers cannot deadlock) once per transaction: a group-committed batch of N
        settlements pays one lock, not N. The rows stay locked until the transaction ends,
        so only its own writes can change them, and those of this worker forget them here.
        Another worker of this process may, within the same transaction, take a lease of
        ours that ran out; ``holds`` compares expiry with the time of each check, so it
        sees that, and ``commit`` (which does not look at expiry) reads them afresh.
        Used only inside the store's writes, which run on its one writer thread."""
        if tx is not self._locked_in:  # a new transaction (the old one is over)
            self._forget(tx)
        rows = self._locked.get((group, topic))
        if rows is None:
            found = tx.execute(_LOCK_LEASES + tx.dialect.for_update, (group, topic))
            rows = {int(p): (str(o), int(e)) for p, o, e in found}
            self._locked[(group, topic)] = rows
        return rows

    def _forget(self, tx: Tx) -> None:
        self._locked_in, self._locked = tx, {}

    async def release(self, group: str, topic: str, partitions: set[int] | frozenset[int]) -> None:
        rows = [(group, topic, p, self.worker_id) for p in partitions]

        def op(tx: Tx) -> None:
            tx.executemany(
                "DELETE FROM partition_leases WHERE group_name = ? AND topic = ?"
                " AND partition = ? AND owner = ?",
                rows,
            )
            self._forget(tx)

        await self.store.write(op)

    async def leave(self) -> None:
        """Give up everything at once (graceful shutdown), so others take over now."""

        def op(tx: Tx) -> None:
            tx.execute("DELETE FROM partition_leases WHERE owner = ?", (self.worker_id,))
            tx.execute("DELETE FROM workers WHERE worker_id = ?", (self.worker_id,))
            self._forget(tx)

        await self.store.write(op)

    async def owners(self, group: str, topic: str) -> dict[int, str]:
        rows = await self.store.read(
            lambda tx: tx.execute(
                "SELECT partition, owner FROM partition_leases"
                " WHERE group_name = ? AND topic = ? AND expires_at > ?",
                (group, topic, now_us()),
            )
        )
        return {int(p): str(o) for p, o in rows}

    async def commit(
        self, group: str, topic: str, moves: Mapping[int, tuple[int, int]]
    ) -> tuple[set[int], set[int]]:
        """Move offsets ``{partition: (expected, new)}`` for partitions this worker still
        holds. Fencing: a worker that lost its lease cannot move the group. Compare-and-set:
        a position someone else changed (a replay) is left as they set it. Returns the
        partitions whose lease is gone and those whose position was changed under us."""

        def op(tx: Tx) -> tuple[set[int], set[int]]:
            self._forget(tx)
            rows = self._locked_rows(tx, group, topic)
            held = {p for p, (owner, _) in rows.items() if owner == self.worker_id}
            moved_elsewhere = set()
            stamp = now_us()
            for partition, (expected, new) in moves.items():
                if partition not in held:
                    continue
                if not _move_position(tx, group, topic, partition, expected, new, stamp):
                    moved_elsewhere.add(partition)
            return set(moves) - held, moved_elsewhere

        return await self.store.write(op)


def _move_position(
    tx: Tx, group: str, topic: str, partition: int, expected: int, new: int, stamp: int
) -> bool:
    """Compare-and-set a group's position: False if it is no longer ``expected`` (someone
    else moved it, e.g. a replay), and then it is left as they set it."""
    moved = tx.one(
        "UPDATE group_offsets SET next_offset = ?, updated_at = ?"
        " WHERE group_name = ? AND topic = ? AND partition = ? AND next_offset = ?"
        " RETURNING partition",
        (new, stamp, group, topic, partition, expected),
    )
    return moved is not None
