"""Random ids: 32 hex digits, never repeated, and a forked child draws its own."""

from __future__ import annotations

import os

from aggregator.models.ids import random_id


def test_ids_are_128_bit_hex_and_distinct_across_blocks() -> None:
    ids = [random_id() for _ in range(5_000)]  # several blocks
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 and i == i.lower() for i in ids)
    # the bits are random: each hex digit takes many values at every position
    assert all(len({i[k] for i in ids}) == 16 for k in range(32))


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    random_id()  # the parent holds a block with ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        os.write(write, "".join(random_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(random_id() for _ in range(4))
    assert len(child) == len(parent) == 128
    assert child != parent
