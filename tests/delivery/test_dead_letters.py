"""Dead letters stay findable by the error type their attempts stored, even when the
exception class has since moved module (Artery's ``Permanent`` moved from
``artery.delivery.retry`` to ``artery.retry``)."""

from __future__ import annotations

import dataclasses

import pytest

from artery.attempts import AttemptError
from artery.delivery import dead_letters
from artery.delivery.dead_letters import DeadLetters, Filter
from artery.envelope import Event
from artery.store import SqlStore, Tx


def bury(tx: Tx, n: int, type_name: str) -> None:
    event = Event(type="orders", source="artery://shop", data={"n": n}, id=f"e-{n}")
    event = dataclasses.replace(event, topic="orders", partition=0, offset=n)
    error = AttemptError(1, type_name, "refused", [], 1.0, 0.1)
    dead_letters.add(tx, "erp", "post_invoice", event, "permanent error", [error])


@pytest.mark.parametrize(
    "asked", ["artery.retry.Permanent", "artery.delivery.retry.Permanent", "Permanent"]
)
async def test_a_moved_artery_error_is_found_by_its_old_and_new_name(
    store: SqlStore, asked: str
) -> None:
    await store.write(lambda tx: bury(tx, 1, "artery.delivery.retry.Permanent"))  # stored before
    await store.write(lambda tx: bury(tx, 2, "artery.retry.Permanent"))  # stored after
    await store.write(lambda tx: bury(tx, 3, "builtins.ValueError"))
    found = await DeadLetters(store).list(Filter(error_type=asked))
    assert sorted(letter.event.id for letter in found) == ["e-1", "e-2"]


async def test_other_full_names_still_match_exactly(store: SqlStore) -> None:
    await store.write(lambda tx: bury(tx, 1, "artery.delivery.retry.Permanent"))
    await store.write(lambda tx: bury(tx, 2, "shop.errors.Permanent"))
    found = await DeadLetters(store).list(Filter(error_type="shop.errors.Permanent"))
    assert [letter.event.id for letter in found] == ["e-2"]
