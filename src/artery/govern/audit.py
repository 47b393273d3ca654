"""The audit trail: who did what by hand, through which channel (``console``, ``api``,
``cli``), to what.

Every change a person makes through the console is written here, and so is every reveal
of a classified field (who saw what, when). The admin API writes an entry for each
successful change it serves (``admin.guarded``), and the CLI's operator commands for theirs,
so one page answers "who touched this" whatever the door. Entries never hold payloads or
secrets: ``detail`` is a short description written by Artery, not by the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from artery.store import Store
from artery.store.protocol import Tx

CHANNELS = ("console", "api", "cli")
MAX_LIMIT = 1000
_COLUMNS = "id, at, actor, channel, action, target, integration, detail"


@dataclass(frozen=True)
class Entry:
    """One thing a person did: ``action`` (``redrive``, ``reveal``, ``POST /admin/...``)
    on ``target`` (a dead letter's id, a run, a destination), in ``integration``."""

    actor: str
    channel: str
    action: str
    target: str | None = None
    integration: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"audit channel {self.channel!r} is not one of {CHANNELS}")


def write(tx: Tx, entry: Entry) -> None:
    """Append ``entry`` inside ``tx``: with the change it records, so both or neither."""
    tx.execute(
        "INSERT INTO audit_entries (at, actor, channel, action, target, integration, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            time.time_ns() // 1000,
            entry.actor[:200],
            entry.channel,
            entry.action[:200],
            None if entry.target is None else entry.target[:500],
            entry.integration,
            None if entry.detail is None else entry.detail[:500],
        ),
    )


async def record(store: Store, entry: Entry) -> None:
    """Append ``entry`` on its own, for a change that was not one transaction (an HTTP
    resend) or for a reveal."""
    await store.write(lambda tx: write(tx, entry))


async def entries(
    store: Store,
    *,
    actor: str | None = None,
    channel: str | None = None,
    integration: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest entries first, narrowed by each filter given; ``before_id`` pages on."""
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    for column, value in (("actor", actor), ("channel", channel), ("integration", integration)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    sql = (
        f"SELECT {_COLUMNS} FROM audit_entries WHERE {' AND '.join(where)}"
        f" ORDER BY id DESC LIMIT {max(1, min(int(limit), MAX_LIMIT))}"
    )
    rows = await store.read(lambda tx: tx.execute(sql, params))
    return [
        {
            "id": row[0],
            "at": row[1] / 1e6,
            "actor": row[2],
            "channel": row[3],
            "action": row[4],
            "target": row[5],
            "integration": row[6],
            "detail": row[7],
        }
        for row in rows
    ]
