"""The log's side of coordinating a consumer group, as a function over the caller's
transaction: delivery moves a group's position in the same transaction that checks (and
locks) its partition lease, so the move is fenced by it."""

from __future__ import annotations

from artery.store import Tx


def move_position(
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
