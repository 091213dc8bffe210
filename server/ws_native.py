"""``/ws`` websockets on a connection we own: the handshake and the framing, presented to
the session (server/ws.py) as the ASGI websocket interface it already speaks.

Why: behind hypercorn every frame sent goes through ``WSStream.app_send`` and
``TCPServer.protocol_send`` (a ``trio.Lock`` and a shielded ``CancelScope`` per frame), and
each connection carries hypercorn's TCP server, h11 and task group objects plus a reader
and a ping task. Here a connection is one :class:`NativeWebSocket` on a plain socket:

- sending a message writes its frame header and payload straight to the non-blocking
  socket; only when the kernel's buffer is full does the sender wait for the socket to be
  writable. Bytes not yet taken wait in one buffer that the next send (or the waiting
  sender) flushes first, so frames are never interleaved or cut, even when a sender is
  cancelled, and without a lock or a shielded scope;
- reading runs in the session's reader task (its ``receive()`` calls): wsproto parses the
  frames, pings are answered there, and the server's heartbeat ping is sent when that
  reader has waited ``ping_interval`` for data (hypercorn pings at accept, then every
  interval: same times, no task of its own);
- the handshake is parsed once, by the listener's sniffer (server/listener.py and
  server/ws_handshake.py), and answered here; wsproto's ``Connection`` (not
  ``WSConnection``, which would parse the request again with its own h11 connection)
  does the framing. Data frames are built here (a server frame is a header and the
  payload, unmasked and unfragmented); control frames and everything received go
  through wsproto. No extension is negotiated (hypercorn offered permessage-deflate: a
  zlib context per connection costs far more memory than the messages save).

The ASGI interface covers what the session uses: ``websocket.connect``/``receive``/
``disconnect`` events, and ``websocket.accept`` (with subprotocol and headers),
``websocket.send`` (bytes or text) and ``websocket.close`` (code, reason; before accept
it refuses the handshake with HTTP 403, as hypercorn does). Messages are reassembled from
fragments and limited to hypercorn's ``websocket_max_message_size`` (1009 when exceeded).
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import generate_accept_token

from server.ws_handshake import RequestHead, websocket_scope

log = logging.getLogger(__name__)

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]],
    Awaitable[None],
]

#: Bytes asked of the socket per read.
RECV_BYTES = 65536
#: Seconds a peer that stopped reading gets to take what is still queued for it (the rest
#: of a frame and the close frame: a client closed for being too slow learns why when it
#: reads again) after the session has finished. hypercorn waited without a bound.
CLOSE_FLUSH_TIMEOUT = 60.0
#: Seconds then given to the peer's answer to our close frame before the socket is closed.
CLOSE_DRAIN_TIMEOUT = 2.0
_OPEN = ConnectionState.OPEN
_LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_FIN_TEXT = 0x81
_FIN_BINARY = 0x82


def _frame_header(first: int, size: int) -> bytes:
    if size < 126:
        return bytes((first, size))
    if size < 65536:
        return struct.pack("!BBH", first, 126, size)
    return struct.pack("!BBQ", first, 127, size)


class NativeWebSocket:
    """One websocket connection: ``receive`` and ``send`` are its ASGI callables.

    Args:
        sock: the accepted, non-blocking socket (closed by :meth:`close_socket`).
        head: the handshake request.
        rest: bytes read after the head (frames a client sent right away).
        max_message: largest message accepted (1009 when exceeded).
        ping_interval: seconds between heartbeat pings, or None for none.

    Error handling: a peer that vanishes (EOF, reset, a write error) ends the connection
    with ``websocket.disconnect`` code 1006; sends after that are dropped, as hypercorn
    drops them. A protocol error from the peer is answered with wsproto's close code.
    """

    __slots__ = (
        "_accepted",
        "_broken",
        "_closed_code",
        "_conn",
        "_connect_sent",
        "_flushing",
        "_head",
        "_max_message",
        "_out",
        "_parts",
        "_ping_at",
        "_ping_interval",
        "_rest",
        "_size",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        head: RequestHead,
        rest: bytes,
        *,
        max_message: int,
        ping_interval: float | None,
    ) -> None:
        self.sock = sock
        self._head: RequestHead | None = head
        self._rest = rest
        self._max_message = max_message
        self._ping_interval = ping_interval
        self._ping_at = 0.0
        self._conn: Connection | None = None
        self._accepted = False
        self._connect_sent = False
        self._closed_code: int | None = None
        #: Message fragments received so far, and their total length.
        self._parts: list[bytes | str] = []
        self._size = 0
        #: Bytes the socket has not taken yet; they go out before anything else.
        self._out = bytearray()
        self._flushing = False
        self._broken = False

    # -- ASGI receive ---------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        conn = self._conn
        while True:
            if self._closed_code is not None or conn is None:
                return {"type": "websocket.disconnect", "code": self._closed_code or 1006}
            for event in conn.events():
                if isinstance(event, Message):
                    message = await self._message(event)
                    if message is not None:
                        return message
                    if self._closed_code is not None:
                        break
                elif isinstance(event, Ping):
                    await self._write(conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._peer_closed(conn, event)
                    break
            else:
                await self._read(conn)

    async def _message(self, event: Message[Any]) -> dict[str, Any] | None:
        data = event.data
        self._size += len(data)
        if self._size > self._max_message:
            self._parts.clear()
            await self._close(CloseReason.MESSAGE_TOO_BIG, "message too big")
            self._closed_code = CloseReason.MESSAGE_TOO_BIG
            return None
        if not event.message_finished:
            self._parts.append(data)
            return None
        if self._parts:
            self._parts.append(data)
            data = data[:0].join(self._parts)
            self._parts.clear()
        self._size = 0
        if isinstance(event, BytesMessage):
            return {"type": "websocket.receive", "bytes": bytes(data)}
        return {"type": "websocket.receive", "text": data}

    async def _peer_closed(self, conn: Connection, event: CloseConnection) -> None:
        if conn.state is _REMOTE_CLOSING:
            await self._write(conn.send(event.response()))
        elif conn.state is _OPEN:  # wsproto could not parse a frame: close with its code
            await self._close(event.code, event.reason or "")
        self._closed_code = event.code

    async def _read(self, conn: Connection) -> None:
        """Feed the next bytes from the socket to wsproto, pinging when the wait is long."""
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            await self._wait_readable(conn)
            return
        except OSError:
            data = b""
        if not data:
            self._broken = True
            conn.receive_data(None)  # queues CloseConnection(1006)
            return
        conn.receive_data(data)
        await trio.lowlevel.checkpoint()  # a peer that floods must not starve the others

    async def _wait_readable(self, conn: Connection) -> None:
        if self._ping_interval is None:
            await trio.lowlevel.wait_readable(self.sock)
            return
        with trio.move_on_at(self._ping_at) as waited:
            await trio.lowlevel.wait_readable(self.sock)
        if waited.cancelled_caught:
            self._ping_at = trio.current_time() + self._ping_interval
            if conn.state is _OPEN:
                await self._write(conn.send(Ping()))

    # -- ASGI send ------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            conn = self._conn
            if conn is None or conn.state is not _OPEN:
                return  # closing or gone: dropped, as hypercorn does
            data = message.get("bytes")
            if data is not None:
                await self._write(_frame_header(_FIN_BINARY, len(data)) + data)
            else:
                text = message["text"].encode()
                await self._write(_frame_header(_FIN_TEXT, len(text)) + text)
        elif kind == "websocket.accept":
            await self._accept(message.get("subprotocol"), message.get("headers") or [])
        elif kind == "websocket.close":
            if not self._accepted:
                self._closed_code = int(message.get("code", 1000))
                await self._respond(403)
            else:
                await self._close(int(message.get("code", 1000)), message.get("reason") or "")
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} on a native websocket")

    async def _accept(self, subprotocol: str | None, extra: list[tuple[bytes, bytes]]) -> None:
        if self._accepted or self._head is None:
            raise ValueError("websocket.accept sent twice or after a refusal")
        key = self._head.header(b"sec-websocket-key")
        assert key is not None  # is_websocket_upgrade checked it
        lines = [
            b"HTTP/1.1 101 Switching Protocols",
            b"upgrade: websocket",
            b"connection: Upgrade",
            b"sec-websocket-accept: " + generate_accept_token(key),
        ]
        if subprotocol is not None:
            lines.append(b"sec-websocket-protocol: " + subprotocol.encode())
        lines.extend(name + b": " + value for name, value in extra)
        self._head = None  # the scope keeps the headers; nothing else needs the head
        self._accepted = True
        self._conn = Connection(ConnectionType.SERVER, trailing_data=self._rest)
        self._rest = b""
        if self._ping_interval is not None:
            self._ping_at = trio.current_time()  # hypercorn pings at accept, then every interval
        await self._write(b"\r\n".join(lines) + b"\r\n\r\n")

    async def _respond(self, status: int) -> None:
        """Refuse the handshake with an empty HTTP response."""
        self._head = None
        reason = {403: b"Forbidden", 500: b"Internal Server Error"}[status]
        await self._write(
            b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason)
        )

    async def _close(self, code: int, reason: str) -> None:
        conn = self._conn
        if conn is not None and conn.state in (_OPEN, _REMOTE_CLOSING):
            await self._write(conn.send(CloseConnection(code=code, reason=reason)))

    # -- the socket -----------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        """Send ``data`` after whatever is still waiting; only waits when the socket is
        full. Safe from several tasks: a second writer appends and leaves the waiting one
        to flush."""
        if self._broken:
            return
        if self._out:
            self._out += data
            if not self._flushing:
                await self._flush()
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._broken = True
            return
        if sent < len(data):
            self._out += memoryview(data)[sent:]
            await self._flush()

    async def _flush(self) -> None:
        self._flushing = True
        try:
            while self._out and not self._broken:
                await trio.lowlevel.wait_writable(self.sock)
                try:
                    sent = self.sock.send(self._out)
                except BlockingIOError:
                    continue
                except OSError:
                    self._broken = True
                    self._out.clear()
                    return
                del self._out[:sent]
        finally:
            self._flushing = False

    async def finish(self) -> None:
        """After the app returned: end the handshake or the closing handshake properly."""
        if not self._accepted:
            if self._closed_code is None:  # neither accepted nor refused: an app error
                await self._respond(500)
            with trio.move_on_after(CLOSE_DRAIN_TIMEOUT):
                await self._flush()
            return
        conn = self._conn
        assert conn is not None
        if conn.state is _OPEN:  # the app ended without closing
            await self._close(CloseReason.INTERNAL_ERROR, "")
        with trio.move_on_after(CLOSE_FLUSH_TIMEOUT):
            await self._flush()
        with trio.move_on_after(CLOSE_DRAIN_TIMEOUT):
            # Read until the peer's close frame (or EOF), so closing does not reset data
            # the peer has not read yet.
            while conn.state is _LOCAL_CLOSING and not self._broken:
                try:
                    data = self.sock.recv(RECV_BYTES)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self.sock)
                    continue
                except OSError:
                    break
                if not data:
                    break
                conn.receive_data(data)
                for _ in conn.events():
                    pass

    def close_socket(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


async def serve_websocket(
    app: ASGIApp,
    sock: socket.socket,
    head: RequestHead,
    rest: bytes,
    *,
    max_message: int,
    ping_interval: float | None,
    root_path: str,
    state: dict[str, Any],
) -> None:
    """Run ``app`` on one native websocket connection; the socket is closed on return."""
    ws = NativeWebSocket(sock, head, rest, max_message=max_message, ping_interval=ping_interval)
    try:
        try:
            scope = websocket_scope(head, sock, root_path=root_path, state=state)
        except (OSError, UnicodeDecodeError):
            return  # the peer is gone already, or the target is not ASCII
        try:
            await app(scope, ws.receive, ws.send)
        except Exception:
            log.exception("ws_native.app_error path=%s", scope["path"])
        await ws.finish()
    finally:
        ws.close_socket()
