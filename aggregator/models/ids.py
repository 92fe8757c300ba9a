"""Random identifiers: 128 bits from the operating system's CSPRNG, as 32 hex digits.

Quote ids, route keys and event ids must not be guessable (a quote id is all a
client needs to fetch a quote). ``uuid.uuid4().hex`` draws its 16 bytes with
one system call per id; :func:`random_id` draws them in blocks and hands out
slices, from the same source. A forked child drops the block it inherited, so
parent and child never hand out the same ids.
"""

from __future__ import annotations

import os

__all__ = ["random_id"]

_ID_BYTES = 16
_BLOCK = 256 * _ID_BYTES


class _Ids:
    __slots__ = ("at", "block")

    def __init__(self) -> None:
        self.block = b""
        self.at = 0

    def drop(self) -> None:
        self.block, self.at = b"", 0


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.drop)


def random_id() -> str:
    """A fresh random id: 32 lowercase hex digits (128 random bits)."""
    ids = _ids
    at = ids.at
    if at >= len(ids.block):
        ids.block, at = os.urandom(_BLOCK), 0
    ids.at = at + _ID_BYTES
    return ids.block[at : at + _ID_BYTES].hex()
