"""Outboxes: what the actors hand to a websocket session, and subscriptions to groups.

A frame sent to many subscribers is wrapped once in an :class:`OutFrame`, which encodes
itself at most once per codec and caches the bytes: a message to a room of 100 is encoded
once, not 100 times. Each session owns one bounded :class:`Outbox`; actors push with
``push`` (never blocking). A full outbox means the peer does not read fast enough: the
outbox marks itself overflowed and the session closes with 4008 (too slow); the client
resumes with ``after_seq``. Server memory never grows for a slow reader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from protocol.codec import Codec
from protocol.frames import Participant, ServerFrame

log = logging.getLogger(__name__)

#: Frames buffered for one subscription while it catches up on history; past this the
#: session is too slow to ever catch up live.
PENDING_MAX = 2048


class OutFrame:
    """A server frame plus its encodings, computed lazily and shared by every receiver."""

    __slots__ = ("_json", "_msgpack", "frame")

    def __init__(self, frame: ServerFrame) -> None:
        self.frame = frame
        self._json: str | bytes | None = None
        self._msgpack: str | bytes | None = None

    def encoded(self, codec: Codec) -> str | bytes:
        if codec.binary:
            if self._msgpack is None:
                self._msgpack = codec.encode(self.frame)
            return self._msgpack
        if self._json is None:
            self._json = codec.encode(self.frame)
        return self._json


class Outbox:
    """One session's bounded queue of frames to write to its websocket."""

    __slots__ = ("_send", "on_overflow", "overflowed", "receive")

    def __init__(self, size: int, on_overflow: Callable[[], None] | None = None) -> None:
        self._send, self.receive = trio.open_memory_channel[OutFrame](size)
        #: True once a push found the outbox full: the session must close with 4008.
        self.overflowed = False
        #: Called once, synchronously, when the outbox overflows (the session closes).
        self.on_overflow = on_overflow

    def mark_overflowed(self) -> None:
        if self.overflowed:
            return
        self.overflowed = True
        log.info("outbox.overflow size=%d", self._send.statistics().max_buffer_size)
        if self.on_overflow is not None:
            self.on_overflow()

    def push(self, item: OutFrame) -> bool:
        """Queue a frame without waiting; False (and overflowed set) when full or closed."""
        if self.overflowed:
            return False
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.mark_overflowed()
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        return True

    async def put(self, item: OutFrame) -> None:
        """Queue a frame, waiting for room (used by the session itself for history)."""
        await self._send.send(item)

    def close(self) -> None:
        self._send.close()


class Subscription:
    """One session's membership in one conversation group.

    Created by the session, registered with the group. Until :meth:`go_live` the group's
    frames are held in ``pending`` while the session replays history from the store, so
    history and live frames meet without a gap or a duplicate.
    """

    __slots__ = (
        "conversation",
        "identity",
        "is_staff",
        "last_seq",
        "live",
        "on_lost",
        "outbox",
        "pending",
        "session",
    )

    def __init__(
        self,
        conversation: str,
        session: str,
        identity: Participant,
        *,
        is_staff: bool,
        outbox: Outbox,
        on_lost: Callable[[Subscription], None],
    ) -> None:
        self.conversation = conversation
        self.session = session
        self.identity = identity
        self.is_staff = is_staff
        self.outbox = outbox
        #: Called (synchronously) when the group that held this subscription stopped.
        self.on_lost = on_lost
        self.live = False
        self.pending: list[tuple[OutFrame, int | None]] = []
        #: The highest message seq handed to the outbox: where a resume starts.
        self.last_seq = 0

    def deliver(self, item: OutFrame, seq: int | None = None) -> bool:
        """Hand a frame to the session (or hold it while catching up)."""
        if not self.live:
            if len(self.pending) >= PENDING_MAX:
                self.outbox.mark_overflowed()
                return False
            self.pending.append((item, seq))
            return True
        if seq is not None:
            if seq <= self.last_seq:
                return True  # already sent as history
            self.last_seq = seq
        return self.outbox.push(item)

    def go_live(self) -> bool:
        """Flush what was held during catch-up and deliver directly from now on."""
        self.live = True
        pending, self.pending = self.pending, []
        for item, seq in pending:
            if not self.deliver(item, seq):
                return False
        return True
