"""Identifiers from the pooled CSPRNG: well-formed, distinct, and never shared by a fork."""

from __future__ import annotations

import os
import uuid

from artery import ids


def test_uuid4_is_a_canonical_version_4_uuid() -> None:
    for _ in range(1000):
        text = ids.uuid4()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat_across_pool_refills() -> None:
    made = {ids.uuid4() for _ in range(5000)}  # 80 KB: many 4 KiB refills
    assert len(made) == 5000


def test_nonzero_hex_has_the_asked_size() -> None:
    for size in (8, 16):
        value = ids.nonzero_hex(size)
        assert len(value) == 2 * size
        assert int(value, 16) != 0


def test_a_forked_child_draws_other_bytes_than_its_parent() -> None:
    ids.random_bytes(1)  # the parent's pool holds bytes the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next bytes, then leave at once
        os.write(write, ids.random_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert child != ids.random_bytes(32)
