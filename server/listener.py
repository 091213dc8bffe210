"""The HTTP listener: hypercorn for HTTP, our own handler for ``/ws`` websockets.

:func:`serve_http` replaces ``hypercorn.trio.serve``. It does what hypercorn 0.18's
``hypercorn/trio/run.py::worker_serve`` does for plain (non-TLS) sockets: the ASGI
lifespan, a ``WorkerContext``, listening sockets from ``config.create_sockets()``, the
binds reported through ``task_status``, and a graceful shutdown. Each accepted
connection's request head is read first (at most HEAD_LIMIT bytes within HEAD_TIMEOUT;
a connection that sends nothing, or no complete head, is closed). A websocket handshake
for ``/ws`` is then served natively (server/ws_native.py: no per-frame lock or shielded
scope, no hypercorn objects or tasks per connection); every other connection is handed
to hypercorn's ``TCPServer`` with the bytes already read replayed in front of the socket.

This uses hypercorn internals (``TCPServer``, ``Lifespan``, ``WorkerContext``): the
dependency is pinned to hypercorn 0.18 (``hypercorn[trio]>=0.18,<0.19`` in
pyproject.toml) and must be re-checked against ``worker_serve`` when it moves.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import repr_socket_addr, wrap_app

from server.ws_handshake import RequestHead, is_websocket_upgrade, parse_head
from server.ws_native import ASGIApp, serve_websocket

log = logging.getLogger(__name__)

#: Largest request head read before deciding where a connection goes (h11's own limit).
HEAD_LIMIT = 16 * 1024
#: Seconds a new connection has to send its first request head.
HEAD_TIMEOUT = 30.0
#: accept() errors that mean "out of resources, try again shortly" (as trio's listener).
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
_ACCEPT_AGAIN_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}


class ReplayStream(trio.abc.HalfCloseableStream):
    """A socket stream that first gives back the bytes the sniffer already read.

    It has ``socket`` and no ``do_handshake``, so hypercorn's TCPServer takes its
    plain-TCP path.
    """

    def __init__(self, stream: trio.SocketStream, replay: bytes) -> None:
        self._stream = stream
        self._replay = replay

    @property
    def socket(self) -> trio.socket.SocketType:
        return self._stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._replay:
            await trio.lowlevel.checkpoint()
            size = len(self._replay) if max_bytes is None else max_bytes
            data, self._replay = self._replay[:size], self._replay[size:]
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


class ConnectionHandler:
    """Sniffs each accepted connection and serves it (see module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        config: Config,
        context: WorkerContext,
        lifespan_state: dict[str, Any],
        *,
        head_timeout: float,
    ) -> None:
        self.app = app
        self.wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
        self.config = config
        self.context = context
        self.lifespan_state = lifespan_state
        self.head_timeout = head_timeout

    async def handle(self, sock: socket.socket) -> None:
        try:
            raw = await self._read_head(sock)
            if raw is None:
                return
            end = raw.find(b"\r\n\r\n") + 4
            head = parse_head(raw[:end])
            if head is not None and is_websocket_upgrade(head):
                await self._serve_websocket(sock, head, raw[end:])
            else:
                await self._serve_hypercorn(sock, raw)
        except Exception:  # one broken connection must not stop the listener
            log.exception("listener.connection_failed")
        finally:
            # Also when cancelled before or while hypercorn closes it (its close awaits).
            if sock.fileno() != -1:
                _close(sock)

    async def _serve_websocket(self, sock: socket.socket, head: RequestHead, rest: bytes) -> None:
        await serve_websocket(
            self.app,
            sock,
            head,
            rest,
            max_message=self.config.websocket_max_message_size,
            ping_interval=self.config.websocket_ping_interval,
            root_path=self.config.root_path,
            state=self.lifespan_state.copy(),
        )

    async def _serve_hypercorn(self, sock: socket.socket, raw: bytes) -> None:
        stream = ReplayStream(trio.SocketStream(trio.socket.from_stdlib_socket(sock)), raw)
        server = TCPServer(
            self.wrapped,
            self.config,
            self.context,
            ConnectionState(self.lifespan_state.copy()),
            stream,  # type: ignore[arg-type]
        )
        await server.run()

    async def _read_head(self, sock: socket.socket) -> bytes | None:
        """Everything read until the head is complete, or None (nothing, EOF, too big,
        too slow, or a socket error)."""
        buffer = b""
        with trio.move_on_after(self.head_timeout):
            while True:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(sock)
                    continue
                except OSError:
                    return None
                if not data:
                    return None
                start = max(0, len(buffer) - 3)
                buffer += data
                end = buffer.find(b"\r\n\r\n", start)
                if 0 <= end <= HEAD_LIMIT:
                    return buffer
                if end > HEAD_LIMIT or len(buffer) > HEAD_LIMIT:
                    return None
        return None


def _close(sock: socket.socket) -> None:
    trio.lowlevel.notify_closing(sock)
    sock.close()


async def _accept_loop(
    listener: socket.socket, handler: ConnectionHandler, nursery: trio.Nursery
) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(listener)
            continue
        except OSError as exc:
            if exc.errno in _ACCEPT_CAPACITY_ERRNOS:
                log.error("listener.accept_failed errno=%s; retrying in 0.1 s", exc.errno)
                await trio.sleep(0.1)
                continue
            if exc.errno in _ACCEPT_AGAIN_ERRNOS:
                continue
            raise
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        nursery.start_soon(handler.handle, sock)
        await trio.lowlevel.checkpoint()


async def serve_http(
    app: ASGIApp,
    config: Config,
    *,
    head_timeout: float = HEAD_TIMEOUT,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``config``'s plain-TCP binds until cancelled (or until hypercorn's
    worker context asks to terminate: then open connections get ``graceful_timeout``)."""
    config.set_statsd_logger_class(StatsdLogger)
    lifespan_state: dict[str, Any] = {}
    handler_context = WorkerContext(None)
    handler = ConnectionHandler(
        app, config, handler_context, lifespan_state, head_timeout=head_timeout
    )
    lifespan = Lifespan(handler.wrapped, config, lifespan_state)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        sockets = config.create_sockets()
        if sockets.secure_sockets or sockets.quic_sockets:
            raise ValueError("serve_http serves plain TCP only; use hypercorn for TLS or QUIC")
        try:
            async with trio.open_nursery() as server_nursery:
                binds = []
                for sock in sockets.insecure_sockets:
                    sock.listen(config.backlog)
                    sock.setblocking(False)
                    bind = repr_socket_addr(sock.family, sock.getsockname())
                    binds.append(f"http://{bind}")
                    await config.log.info(f"Running on http://{bind} (CTRL + C to quit)")
                try:
                    async with trio.open_nursery() as accept_nursery:
                        for sock in sockets.insecure_sockets:
                            accept_nursery.start_soon(_accept_loop, sock, handler, server_nursery)
                        task_status.started(binds)
                        await handler_context.terminate.wait()
                        accept_nursery.cancel_scope.cancel()
                finally:
                    await handler_context.terminated.set()
                    server_nursery.cancel_scope.deadline = (
                        trio.current_time() + config.graceful_timeout
                    )
        finally:
            for sock in sockets.insecure_sockets:
                _close(sock)
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
