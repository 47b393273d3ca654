"""A store as the release before integrations were recorded left it: delivery's and the
workflow engine's tables at their first version, with a dead letter and a finished run
written the way that release wrote them (no integration column to fill)."""

from __future__ import annotations

import orjson

from artery.attempts import AttemptError
from artery.envelope import Event
from artery.schema import SCHEMAS
from artery.store import Schema, Tx, open_store

# The packages whose tables learned their integration, and the version before they did.
BEFORE_INTEGRATIONS = {"delivery": 1, "workflows": 1}

PREVIOUS: tuple[Schema, ...] = tuple(
    Schema(s.package, s.migrations[: BEFORE_INTEGRATIONS[s.package]])
    if s.package in BEFORE_INTEGRATIONS
    else s
    for s in SCHEMAS
)

OLD_EVENT = Event(type="orders", source="artery://shop", data={"n": 1}, id="e-old")
OLD_RUN = "settle-old"


def put_old_rows(tx: Tx) -> None:
    error = AttemptError(1, "artery.retry.Permanent", "unknown customer", [], 1.0, 0.1)
    tx.execute(
        "INSERT INTO dead_letters (group_name, consumer, topic, partition, event_offset,"
        " event_id, event_type, body, reason, errors_json, created_at)"
        " VALUES ('erp', 'post_invoice', 'orders', 0, 0, ?, 'orders', ?, 'permanent error', ?,"
        " 1000000)",
        (OLD_EVENT.id, OLD_EVENT.to_json(), orjson.dumps([error.to_dict()]).decode()),
    )
    tx.execute(
        "INSERT INTO workflow_runs (run_id, workflow, status, input_json, result_json,"
        " started_by, created_at, updated_at)"
        " VALUES (?, 'settle', 'completed', '3', '3', 'api', 1000000, 1000000)",
        (OLD_RUN,),
    )


async def previous_store(url: str) -> None:
    """Build the old store at ``url``; opening it with today's schemas migrates it."""
    store = await open_store(url, schemas=PREVIOUS)
    try:
        await store.write(put_old_rows)
    finally:
        await store.close()
