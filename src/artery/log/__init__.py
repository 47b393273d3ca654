"""The event log: topics bound to contracts, partitions, offsets, groups, replay, retention."""

from artery.log.embedded import StoreLog
from artery.log.event_log import EventLog, partition_for
from artery.log.protocol import (
    Assignment,
    GroupCoordinator,
    GroupPosition,
    Log,
    PartitionState,
    Record,
    Retention,
    Topic,
)

__all__ = [
    "Assignment",
    "EventLog",
    "GroupCoordinator",
    "GroupPosition",
    "Log",
    "PartitionState",
    "Record",
    "Retention",
    "StoreLog",
    "Topic",
    "partition_for",
]
