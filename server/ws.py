"""The websocket session: one per connection on ``/ws``.

It is a raw ASGI websocket handler, called directly by server/ws_native.py (our own
wsproto connection; by hypercorn when the ``ws_native`` setting is off), bypassing
Quart's websocket wrapper: on this stack the cost is per frame, and every layer of
queues and tasks per connection costs CPU and memory. Per connection there are two tasks: the reader
(decodes, authorises and dispatches client frames) and the writer (drains the bounded
outbox and coalesces whatever is queued into one ``batch`` frame).

Error handling: a bad frame gets an ``error`` frame and the connection stays open; a peer
that keeps sending bad frames is closed with 1008, one that exceeds its rate for long
with 4029, one that does not read fast enough with 4008 (it resumes with ``after_seq``),
one whose token expires with 4001, and a contact's when the contact is blocked with 1008.

Sessions report themselves to actors/presence.py: staff are online while a session is
open (recipes assign to online agents), and a contact's sessions are closed when a
recipe blocks the contact.

The Session is what each frame means; its parts that read on their own are beside it:
hello and authorisation (server/ws_auth.py), join and history replay (server/ws_join.py),
and the wire: closing, the rate-limited frame reader, the batching writer
(server/ws_transport.py).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from actors import records, slack_store
from actors.directory import Principal
from actors.group_commands import MarkRead, SetTyping
from actors.outbox import Outbox, OutFrame, Subscription
from actors.records import NewMessage
from actors.runtime import ActorStopped
from actors.slack_store import SlackConfig
from actors.store import now_ms
from protocol.codec import CODECS, Codec
from protocol.errors import CloseCode, ErrorCode, ProtocolError, RemoteProtocolError
from protocol.frames import (
    Attachment,
    ErrorFrame,
    Hello,
    Join,
    Leave,
    Participant,
    Ping,
    Pong,
    Read,
    Send,
    Typing,
)
from server.state import AppState
from server.ws_auth import authenticate, authorise, header, origin_allowed, welcome_frame
from server.ws_join import join_and_replay
from server.ws_transport import (
    ASGIReceive,
    ASGISend,
    Closing,
    FrameReader,
    first_closing,
    write_batches,
)

log = logging.getLogger(__name__)

#: Seconds given to a close frame to reach a peer that stopped reading.
CLOSE_TIMEOUT = 2.0


class Session:
    """One websocket connection (see module docstring)."""

    def __init__(
        self, state: AppState, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        self.state = state
        self.scope = scope
        self._receive = receive
        self._send = send
        self.id = secrets.token_hex(8)
        self.codec: Codec | None = None
        self.outbox = Outbox(state.settings.outbox_frames, on_overflow=self._on_overflow)
        self.principal: Principal | None = None
        self.identity: Participant | None = None
        self.subs: dict[str, Subscription] = {}
        self._watching_inbox = False
        #: The session's nursery (reader + writer) once hello succeeded: overflow and
        #: token expiry cancel it, lost subscriptions start their rejoin in it.
        self._nursery: trio.Nursery | None = None
        self._expires_at = float("inf")
        #: Set (the reason) when the contact is blocked while connected.
        self._blocked: str | None = None
        self._present = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        event = await self._receive()
        if event["type"] != "websocket.connect":
            return
        offered = [p.strip() for p in self.scope.get("subprotocols", [])]
        chosen = next((p for p in offered if p in CODECS), None)
        origin = header(self.scope, b"origin")
        self._origin_trusted = origin is None or origin_allowed(self.state, self.scope, origin)
        if chosen is None:
            log.info("ws.rejected reason=no_subprotocol offered=%s", offered)
            await self._send({"type": "websocket.close", "code": CloseCode.POLICY})
            return
        if (
            origin is not None
            and not self._origin_trusted
            and not self.state.widget_origin_ok(origin)
        ):
            log.info("ws.rejected reason=origin origin=%s", origin)
            await self._send({"type": "websocket.close", "code": CloseCode.POLICY})
            return
        self.codec = CODECS[chosen]
        settings = self.state.settings
        frames = FrameReader(
            self._receive,
            self.codec,
            self._push_error,
            rate=settings.rate_per_second,
            burst=settings.rate_burst,
        )
        await self._send({"type": "websocket.accept", "subprotocol": chosen})
        self.state.sessions_open += 1
        closing: Closing | None = None
        try:
            await self._serve(frames)
        except* Closing as group:
            closing = first_closing(group)
        finally:
            if closing is not None:
                await self._close(closing.code, closing.reason)
            self.state.sessions_open -= 1
            await self._cleanup()

    async def _serve(self, frames: FrameReader) -> None:
        with trio.move_on_after(self.state.settings.hello_timeout) as scope:
            first = await frames.next_frame()
        if scope.cancelled_caught:
            raise Closing(CloseCode.POLICY, "no hello within the time allowed")
        if first is None:
            return
        if not isinstance(first, Hello):
            raise Closing(CloseCode.POLICY, "the first frame must be hello")
        await self._hello(first)
        # Two tasks per connection (memory per idle connection is mostly trio tasks and
        # scopes): slowness and token expiry need none of their own, they cancel this
        # nursery (see _on_overflow and the deadline below) and are told apart after.
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.cancel_scope.deadline = self._expires_at
            if self._blocked is not None:
                nursery.cancel_scope.cancel()
            nursery.start_soon(self._writer)
            try:
                await self._reader(frames)
            finally:
                nursery.cancel_scope.cancel()
        self._nursery = None
        if self._blocked is not None:
            raise Closing(CloseCode.POLICY, self._blocked)
        if self.outbox.overflowed:
            raise Closing(CloseCode.TOO_SLOW, "too slow; reconnect and resume with after_seq")
        if trio.current_time() >= self._expires_at:
            raise Closing(CloseCode.TOKEN_EXPIRED, "the token has expired")

    async def _close(self, code: int, reason: str) -> None:
        log.info("ws.close session=%s code=%d reason=%s", self.id, code, reason)
        with trio.move_on_after(CLOSE_TIMEOUT):
            try:
                await self._send(
                    {"type": "websocket.close", "code": int(code), "reason": reason[:120]}
                )
            except Exception:  # the transport may be gone already; nothing left to tell
                log.debug("ws.close_failed session=%s", self.id, exc_info=True)

    async def _cleanup(self) -> None:
        if self._present and self.principal is not None:
            if self.principal.kind == "staff":
                self.state.system.staff_presence.disconnected(self.principal.id)
            else:
                self.state.system.contact_sessions.unregister(self.principal.id, self.id)
        if self._watching_inbox:
            self.state.system.livefeed.unwatch(self.outbox)
        subs, self.subs = list(self.subs.values()), {}
        with trio.CancelScope(shield=True):
            for sub in subs:
                await self.state.system.unsubscribe(sub)
        self.outbox.close()

    # -- reading (the rate and bad-frame policy is server/ws_transport.py's FrameReader) ------

    async def _reader(self, frames: FrameReader) -> None:
        handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            Join: self._join,
            Leave: self._leave,
            Send: self._send_message,
            Typing: self._typing,
            Read: self._read,
            Ping: self._ping,
            Hello: self._hello_again,
        }
        while True:
            frame = await frames.next_frame()
            if frame is None:
                return
            try:
                await handlers[type(frame)](frame)
            except ProtocolError as exc:
                frames.bad_frame(exc, getattr(frame, "ref", None))

    def _push_error(self, code: ErrorCode, message: str, ref: str | None) -> None:
        self.outbox.push(OutFrame(ErrorFrame(code=code.value, message=message, ref=ref)))

    # -- authentication and authorisation -------------------------------------------------------

    async def _hello(self, hello: Hello) -> None:
        principal = await authenticate(
            self.state, self.scope, hello, origin_trusted=self._origin_trusted
        )
        self.principal = principal
        self._report_presence(principal)
        if principal.expires_at is not None:
            self._expires_at = trio.current_time() + (principal.expires_at - now_ms()) / 1000
        self.identity = Participant(kind=principal.kind, id=principal.id, name=principal.name)  # type: ignore[arg-type]
        welcome = welcome_frame(self.id, self.state.settings, self.identity, principal)
        self.outbox.push(OutFrame(welcome))
        if hello.inbox and principal.kind == "staff":
            self.state.system.livefeed.watch(self.outbox)
            self._watching_inbox = True
        log.info(
            "ws.hello session=%s who=%s:%s client=%s",
            self.id,
            principal.kind,
            principal.id,
            hello.client,
        )

    def _report_presence(self, principal: Principal) -> None:
        """Staff count as online from now on; a contact's session can be closed by a
        block (one that came in between the block and its closing sweep is refused)."""
        system = self.state.system
        if principal.kind == "staff":
            system.staff_presence.connected(principal.id)
        elif not system.contact_sessions.register(principal.id, self.id, self._on_blocked):
            raise Closing(CloseCode.POLICY, "unknown, revoked or expired token")
        self._present = True

    def _on_blocked(self, reason: str) -> None:
        """The contact was blocked: close this session with 1008."""
        self._blocked = reason
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _hello_again(self, hello: Hello) -> None:
        raise RemoteProtocolError(
            ErrorCode.ALREADY_AUTHENTICATED, "this connection said hello already"
        )

    async def _authorise(self, conversation: str) -> None:
        assert self.principal is not None
        await authorise(self.state, self.principal, conversation)

    # -- frames -------------------------------------------------------------------------------

    async def _join(self, frame: Join) -> None:
        await self._authorise(frame.conversation)
        old = self.subs.pop(frame.conversation, None)
        if old is not None:
            await self.state.system.unsubscribe(old)
        await self._subscribe(frame.conversation, frame.after_seq)

    async def _subscribe(self, conversation: str, after_seq: int) -> None:
        assert self.principal is not None
        assert self.identity is not None
        is_staff = self.principal.kind == "staff"
        sub = Subscription(
            conversation,
            self.id,
            self.identity,
            is_staff=is_staff,
            outbox=self.outbox,
            on_lost=self._on_lost,
        )
        self.subs[conversation] = sub
        if not await join_and_replay(self.state.system, sub, after_seq):
            raise Closing(CloseCode.TOO_SLOW, "too slow to catch up; resume with after_seq")

    def _on_overflow(self) -> None:
        """The outbox is full: the peer does not read fast enough; close with 4008."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _on_lost(self, sub: Subscription) -> None:
        """The group holding ``sub`` stopped (crash or shutdown): rejoin from its last seq."""
        if self.subs.get(sub.conversation) is sub and self._nursery is not None:
            try:
                self._nursery.start_soon(self._rejoin, sub)
            except RuntimeError:  # the session is closing: nothing to rejoin
                pass

    async def _leave(self, frame: Leave) -> None:
        sub = self.subs.pop(frame.conversation, None)
        if sub is None:
            raise RemoteProtocolError(ErrorCode.NOT_JOINED, f"not joined to {frame.conversation}")
        await self.state.system.unsubscribe(sub)

    async def _send_message(self, frame: Send) -> None:
        await self._authorise(frame.conversation)
        assert self.principal is not None
        assert self.identity is not None
        if frame.kind == "note" and self.principal.kind != "staff":
            raise RemoteProtocolError(ErrorCode.FORBIDDEN, "only staff can write internal notes")
        if not frame.body.strip() and not frame.attachments:
            raise RemoteProtocolError(ErrorCode.BAD_FIELD, "send.body must not be empty")
        attachments: tuple[Attachment, ...] = ()
        if frame.attachments:
            attachments = await self.state.attachments_for(frame.conversation, frame.attachments)
        author = self.identity
        if frame.kind == "message" and self.principal.kind == "staff":
            # A console reply appears from the moderator the webinar's reply_as names, the
            # same rule (and the same REST-over-environment settings) as a Slack reply.
            defaults = SlackConfig(reply_as=self.state.settings.reply_as)
            writer = (author.id, author.name)
            conversation = frame.conversation
            found = await self.state.system.store.read(
                lambda conn: slack_store.reply_author(
                    conn,
                    conversation,
                    writer,
                    slack_store.load_config(conn, defaults).reply_as,
                )
            )
            author = found or author
        msg = NewMessage(
            conversation=frame.conversation,
            author=author,
            sender=self.identity,
            kind=frame.kind,
            body=frame.body,
            attachments=attachments,
            client_msg_id=frame.client_msg_id,
            in_reply_to=frame.in_reply_to,
        )
        try:
            await self.state.system.post_nowait(msg, self.outbox)
        except records.NotFound as exc:
            raise RemoteProtocolError(ErrorCode.NOT_FOUND, str(exc), frame.client_msg_id) from exc

    async def _typing(self, frame: Typing) -> None:
        await self._authorise(frame.conversation)
        assert self.identity is not None
        await self._to_group(frame.conversation, SetTyping(self.identity, self.id, frame.active))

    async def _read(self, frame: Read) -> None:
        await self._authorise(frame.conversation)
        assert self.identity is not None
        await self._to_group(frame.conversation, MarkRead(self.identity, frame.seq, self.outbox))

    async def _to_group(self, conversation: str, command: Any) -> None:
        try:
            await self.state.system.send_to_group(conversation, command)
        except records.NotFound as exc:
            raise RemoteProtocolError(ErrorCode.NOT_FOUND, str(exc)) from exc

    async def _ping(self, frame: Ping) -> None:
        self.outbox.push(OutFrame(Pong(nonce=frame.nonce, ref=frame.ref)))

    # -- writing ------------------------------------------------------------------------------

    async def _writer(self) -> None:
        assert self.codec is not None
        limit = self.state.settings.batch_max_frames
        await write_batches(self.codec, self.outbox.receive, self._send, limit)

    async def _rejoin(self, sub: Subscription) -> None:
        if self.subs.get(sub.conversation) is not sub:
            return
        log.info(
            "ws.rejoin session=%s conversation=%s after=%d", self.id, sub.conversation, sub.last_seq
        )
        try:
            await self._subscribe(sub.conversation, sub.last_seq)
        except (ActorStopped, records.NotFound, trio.TooSlowError) as exc:
            self._push_error(ErrorCode.UNAVAILABLE, f"lost {sub.conversation}: {exc}", None)
            self.subs.pop(sub.conversation, None)


async def websocket_app(
    state: AppState, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend
) -> None:
    """ASGI entry point for ``/ws``."""
    await Session(state, scope, receive, send).run()
