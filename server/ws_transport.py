"""The wire side of a websocket session: the ASGI callables, how the session asks to
close, the reader that polices what the peer sends, and the writer that batches what it
is sent.

Split from server/ws.py, which keeps the Session (what each frame means). What is here
does not depend on the meaning of frames: every part of the session ends a connection the
same way (:class:`Closing`), the reader (:class:`FrameReader`) applies the same rate and
bad-frame policy to every frame, and the writer (:func:`write_batches`) is the hot loop
that sends. Keeping them apart lets each be read without the protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from actors.outbox import OutFrame
from protocol.codec import Codec
from protocol.errors import CloseCode, ErrorCode, ProtocolError, RemoteProtocolError
from protocol.frames import MAX_FRAME_BYTES

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]

#: Bad frames tolerated per connection before it counts as abusive (closed with 1008).
MAX_BAD_FRAMES = 50
#: Coalesced batches stay under the protocol's frame limit so clients can read them.
BATCH_MAX_BYTES = MAX_FRAME_BYTES - 4096


class Closing(Exception):
    """Raised inside the session to close the socket with a code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def first_closing(group: BaseExceptionGroup[Closing]) -> Closing:
    """The first Closing in a (possibly nested) exception group."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_closing(exc)
        return exc
    raise AssertionError("empty exception group")


class FrameReader:
    """Reads the client frames of one connection, keeping the peer to its rate (a token
    bucket: ``rate`` frames per second, bursts of ``burst``).

    Args:
        receive: the connection's ASGI receive callable.
        codec: the codec of the subprotocol the connection chose.
        push_error: queues an ``error`` frame for the peer (code, message, ref).
        rate: frames per second allowed on average.
        burst: frames allowed at once.

    Error handling: an undecodable frame, or one over the rate, is answered with an
    ``error`` frame and skipped; :class:`Closing` is raised when the peer keeps at it
    (more than MAX_BAD_FRAMES bad frames: 1008; over its rate for longer than a burst:
    4029) or at once for an error that carries its own close code.
    """

    def __init__(
        self,
        receive: ASGIReceive,
        codec: Codec,
        push_error: Callable[[ErrorCode, str, str | None], None],
        *,
        rate: float,
        burst: float,
    ) -> None:
        self._receive = receive
        self._codec = codec
        self._push_error = push_error
        self._bad_frames = 0
        self._rate = rate
        self._burst = float(burst)
        self._tokens = self._burst
        self._last_refill = trio.current_time()
        self._rate_strikes = 0

    async def next_frame(self) -> Any:
        """The next valid client frame, or None when the peer disconnected."""
        while True:
            event = await self._receive()
            kind = event["type"]
            if kind == "websocket.disconnect":
                return None
            if kind != "websocket.receive":
                continue
            data = event.get("bytes")
            if data is None:
                data = event.get("text", "")
            if not self._take_token():
                continue
            try:
                return self._codec.decode_client(data)
            except RemoteProtocolError as exc:
                self.bad_frame(exc)

    def bad_frame(self, exc: ProtocolError, ref: str | None = None) -> None:
        """Answer a frame that was refused (by the codec or its handler) with an error."""
        self._bad_frames += 1
        self._push_error(exc.code, exc.message, ref or exc.ref)
        if exc.close_code is not None:
            raise Closing(exc.close_code, exc.message)
        if self._bad_frames > MAX_BAD_FRAMES:
            raise Closing(CloseCode.POLICY, "too many invalid frames")

    def _take_token(self) -> bool:
        """Token bucket: False (and an error frame) when the client exceeds its rate."""
        now = trio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._last_refill) * self._rate)
        self._last_refill = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._rate_strikes = 0
            return True
        self._rate_strikes += 1
        self._push_error(ErrorCode.RATE_LIMITED, "too many frames; slow down", None)
        if self._rate_strikes > self._burst:
            raise Closing(CloseCode.RATE_LIMITED, "rate limit exceeded for too long")
        return False


async def write_batches(
    codec: Codec, receive: trio.MemoryReceiveChannel[OutFrame], send: ASGISend, limit: int
) -> None:
    """Send the outbox until cancelled: whatever is queued goes out as one ``batch`` frame
    (at most ``limit`` frames and BATCH_MAX_BYTES), since on this stack the cost is per
    frame sent, not per byte."""
    binary = codec.binary
    carry: OutFrame | None = None
    while True:
        first = carry if carry is not None else await receive.receive()
        carry = None
        data = first.encoded(codec)
        parts = [data]
        size = len(data)
        while len(parts) < limit:
            try:
                item = receive.receive_nowait()
            except trio.WouldBlock:
                break
            encoded = item.encoded(codec)
            if size + len(encoded) > BATCH_MAX_BYTES:
                carry = item
                break
            parts.append(encoded)
            size += len(encoded)
        payload = data if len(parts) == 1 else codec.encode_batch(parts)
        if binary:
            await send({"type": "websocket.send", "bytes": payload})
        else:
            await send({"type": "websocket.send", "text": payload})
