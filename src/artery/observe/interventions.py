"""What a person does by hand, on the record: the admin API and the CLI note a redrive, a
signal, a resend or a replay in ``interventions`` (``records.record_intervention``), from
which the ROI report counts interventions per 1,000 events (``roi.py``).

Where the action is one transaction (a redrive, a signal) the note is written inside it
(``DeadLetters.redrive(record=...)``, ``Workflows.signal(record=...)``): either both commit
or neither. A resend or replay is HTTP calls, not a transaction; it is noted once it has
been made (``noted``). Signals that workflow code sends, and redrives by a program calling
``app.dead_letters``, are not a person's and are not noted.

The actor is who acted: the principal's subject for the admin API (an API key's name, a
token's ``sub``), ``cli:<OS user>`` for the command line. Details never hold payloads.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from artery.observe.records import record_intervention
from artery.store import Store, Tx

if TYPE_CHECKING:
    from artery.delivery.dead_letters import DeadLetter
    from artery.workflows import Run

REDRIVE, SIGNAL, RESEND, REPLAY = "redrive", "signal", "resend", "replay"
KINDS = (REDRIVE, SIGNAL, RESEND, REPLAY)


def cli_actor() -> str:
    """``cli:<OS user>``; the uid where the system has no name for it (a bare container)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}" if hasattr(os, "getuid") else "cli:unknown"


def redriven(actor: str | None) -> Callable[[Tx, Sequence[DeadLetter]], None]:
    """The note of a redrive: one per integration whose letters were redriven, so each
    team's count holds its own (letters buried before integrations were recorded: none)."""

    def record(tx: Tx, letters: Sequence[DeadLetter]) -> None:
        by_integration: dict[str | None, list[int]] = {}
        for letter in letters:
            by_integration.setdefault(letter.integration, []).append(letter.id)
        for integration, ids in by_integration.items():
            shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
            detail = f"{len(ids)} dead letter(s): {shown}"
            record_intervention(tx, REDRIVE, integration=integration, actor=actor, detail=detail)

    return record


def signalled(actor: str | None, name: str) -> Callable[[Tx, Run], None]:
    """The note of a signal a person sent to a run (its name and run, never its payload)."""

    def record(tx: Tx, run: Run) -> None:
        detail = f"signal {name!r} to run {run.run_id!r}"
        record_intervention(tx, SIGNAL, integration=run.integration, actor=actor, detail=detail)

    return record


async def noted(
    store: Store, kind: str, *, integration: str | None, actor: str | None, detail: str
) -> None:
    """Note an intervention that was not one transaction (a resend, a replay), once made."""
    await store.write(
        lambda tx: record_intervention(
            tx, kind, integration=integration, actor=actor, detail=detail
        )
    )


__all__ = [
    "KINDS",
    "REDRIVE",
    "REPLAY",
    "RESEND",
    "SIGNAL",
    "cli_actor",
    "noted",
    "redriven",
    "signalled",
]
