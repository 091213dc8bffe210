"""Test helpers: seeding data through the Store and a websocket client."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from actors import contexts, directory
from protocol.codec import CODECS, Codec
from protocol.frames import Batch, Hello, ServerFrame, Welcome
from server.auth import hash_password
from server.main import Running

T = TypeVar("T")
PASSWORD = "correct horse battery"
_HASH: list[str] = []


def password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


class Seed:
    """Creates data directly through the server's Store (fast, no HTTP)."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.store = running.state.system.store

    @property
    def ws_url(self) -> str:
        return self.running.url.replace("http://", "ws://") + "/ws"

    async def user(
        self, email: str = "agent@example.com", role: str = "agent", name: str = "Agent"
    ) -> dict[str, Any]:
        return await self.store.write(
            functools.partial(
                directory.create_user,
                email=email,
                name=name,
                role=role,
                password_hash=password_hash(),
            )
        )

    async def api_token(self, user_id: str) -> str:
        token = directory.new_token("sbt")
        await self.store.write(
            functools.partial(
                directory.create_api_token,
                user_id=user_id,
                name="test",
                token=token,
                expires_at=None,
            )
        )
        return token

    async def staff_token(
        self, email: str = "agent@example.com", role: str = "agent"
    ) -> tuple[dict[str, Any], str]:
        user = await self.user(email=email, role=role, name=email.split("@")[0])
        return user, await self.api_token(user["id"])

    async def context(self, title: str = "Webinar", **data: Any) -> dict[str, Any]:
        return await self.store.write(
            functools.partial(
                contexts.create_context,
                kind="webinar",
                title=title,
                data=data,
                moderators=[],
                primary_moderator=None,
                external_id=None,
            )
        )

    async def attendee(
        self, context_id: str, name: str = "Ann", email: str | None = None, ttl_ms: int = 3_600_000
    ) -> dict[str, Any]:
        return await self.store.write(
            functools.partial(
                contexts.create_attendee,
                context_id=context_id,
                name=name,
                email=email,
                external_id=None,
                channel="widget",
                token=directory.new_token("sba"),
                ttl_ms=ttl_ms,
            )
        )

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.running.url, headers=headers, timeout=30)


async def read_until_closed(recv: Callable[[], Awaitable[T]]) -> tuple[int, list[T]]:
    """Call ``recv`` until the server closes the socket; return (close code, what came)."""
    received: list[T] = []
    try:
        while True:
            received.append(await recv())
    except ConnectionClosed as closed:
        return int(closed.reason.code), received


@asynccontextmanager
async def open_ws(url: str, **kwargs: Any) -> AsyncIterator[WebSocketConnection]:
    """``open_websocket_url`` that always closes its TCP stream.

    When the *server* closes a websocket, trio-websocket's client waits for the server's
    TCP close (as RFC 6455 asks), but cancels that wait when the block exits, leaving the
    socket to the garbage collector (a ResourceWarning). Hypercorn does close promptly;
    this just makes the client side deterministic.
    """
    async with open_websocket_url(url, **kwargs) as ws:
        try:
            yield ws
        finally:
            with trio.CancelScope(shield=True):
                await ws._stream.aclose()


class Client:
    """A websocket client that flattens batch frames into single frames."""

    def __init__(self, ws: WebSocketConnection, codec: Codec) -> None:
        self.ws = ws
        self.codec = codec
        self._queue: list[ServerFrame] = []
        self.welcome: Welcome | None = None

    async def send(self, frame: Any) -> None:
        await self.ws.send_message(self.codec.encode(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def recv(self) -> ServerFrame:
        while not self._queue:
            frame = self.codec.decode_server(await self.ws.get_message())
            if isinstance(frame, Batch):
                self._queue.extend(frame.frames)
            else:
                self._queue.append(frame)
        return self._queue.pop(0)

    async def until(
        self, predicate: Callable[[ServerFrame], bool]
    ) -> tuple[ServerFrame, list[ServerFrame]]:
        """Receive until ``predicate`` holds; return that frame and the ones before it."""
        seen: list[ServerFrame] = []
        while True:
            frame = await self.recv()
            if predicate(frame):
                return frame, seen
            seen.append(frame)


class connect:
    """``async with connect(url, token) as client``: open, hello, wait for welcome."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        subprotocol: str = "switchboard.v1.msgpack",
        inbox: bool = False,
        extra_headers: list[tuple[str, str]] | None = None,
        message_queue_size: int = 100_000,
    ) -> None:
        self._cm = open_ws(
            url,
            subprotocols=[subprotocol],
            extra_headers=extra_headers,
            max_message_size=1 << 20,
            # Deep by default, so trio-websocket's reader never blocks on frames a test does
            # not read (a blocked reader stalls the close handshake until the timeout); a
            # test of a slow reader asks for 1, so the socket really backs up.
            message_queue_size=message_queue_size,
            disconnect_timeout=5,
        )
        self._codec = CODECS[subprotocol]
        self._token = token
        self._inbox = inbox

    async def __aenter__(self) -> Client:
        ws = await self._cm.__aenter__()
        client = Client(ws, self._codec)
        await client.send(Hello(token=self._token, client="tests", inbox=self._inbox))
        frame = await client.recv()
        assert isinstance(frame, Welcome), frame
        client.welcome = frame
        return client

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)
