"""The outbox: a capped Redis stream of audit events, written with the state change.

Code that changes state appends the matching event in the same MULTI/EXEC
transaction, so an event exists if and only if its state change happened::

    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, new_state)
        await outbox.append(pipe, SwapEvent(...))
        await pipe.execute()

``append`` also works on a plain client (the XADD runs at once). The stream is
trimmed approximately to ``outbox_maxlen`` entries (``XADD MAXLEN ~``), so
without a QuestDB server it stays bounded and the oldest entries go first.

Entry fields: ``kind`` (the event kind) and ``event`` (the event's JSON).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from aggregator.journal.config import JournalConfig
from aggregator.journal.events import Event, decode_event, encode_event

__all__ = ["Outbox", "OutboxTarget", "decode_entry", "encode_entry"]

OutboxTarget = Redis | Pipeline
"""A client (the XADD runs at once) or a pipeline (the XADD joins its transaction)."""


def encode_entry(event: Event) -> dict[FieldT, EncodableT]:
    """Stream entry fields of an event."""
    return {"kind": event.kind, "event": encode_event(event)}


def _field(fields: dict[Any, Any], name: str) -> Any:
    if name in fields:
        return fields[name]
    return fields.get(name.encode())


def decode_entry(fields: dict[Any, Any]) -> Event:
    """The event in a stream entry's fields (bytes or str keys); ValueError if malformed."""
    raw = _field(fields, "event")
    if raw is None:
        raise ValueError("outbox entry has no 'event' field")
    event = decode_event(raw)
    kind = _field(fields, "kind")
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind is not None and kind != event.kind:
        raise ValueError(f"outbox entry kind {kind!r} does not match its event ({event.kind!r})")
    return event


class Outbox:
    """Appends events to the outbox stream named in the config."""

    def __init__(self, config: JournalConfig) -> None:
        self._key = config.outbox_key
        self._maxlen = config.outbox_maxlen
        self._maxlen_word = str(config.outbox_maxlen)

    @property
    def key(self) -> str:
        return self._key

    async def append(self, target: OutboxTarget, event: Event) -> None:
        """XADD the event, trimming the stream to about the cap.

        On a pipeline the command is queued and runs with the pipeline's
        ``execute()``; on a client it runs now.
        """
        await target.xadd(self._key, encode_entry(event), maxlen=self._maxlen, approximate=True)

    def command(self, event: Event) -> tuple[Any, ...]:
        """The XADD :meth:`append` sends for ``event``, as command words (for a caller that
        sends its commands itself, such as a script that runs them only if allowed)."""
        maxlen, kind, text = self._maxlen_word, event.kind, encode_event(event)
        return ("XADD", self._key, b"MAXLEN", b"~", maxlen, "*", "kind", kind, "event", text)

    @staticmethod
    def append_lua(first: int) -> str:
        """Lua that appends an event as :meth:`append` does, its arguments
        (:meth:`append_args`) from ``ARGV[first]`` on."""
        key, maxlen, kind, text = (f"ARGV[{first + i}]" for i in range(4))
        return f"""
  redis.call('XADD', {key}, 'MAXLEN', '~', {maxlen}, '*', 'kind', {kind}, 'event', {text})
"""

    def append_args(self, kind: str, event_json: str) -> tuple[str, str, str, str]:
        """The arguments of :meth:`append_lua` for an event already serialized
        (``encode_event``) of kind ``kind``."""
        return self._key, self._maxlen_word, kind, event_json

    async def append_many(self, target: OutboxTarget, events: list[Event]) -> None:
        for event in events:
            await self.append(target, event)

    async def length(self, client: Redis) -> int:
        """Entries currently in the stream (shipped entries are deleted after their ack)."""
        return int(await client.xlen(self._key))
