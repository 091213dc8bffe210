"""ConversationGroup: the actor that owns one conversation's live state.

It serialises everything that happens to the conversation: posts, updates, read marks,
typing and presence, and it keeps the set of subscribed sessions. Writes are pipelined:
the group hands each write to the Store without waiting for the commit (up to
``MAX_IN_FLIGHT``), and a second task handles the results in commit order. The seq of a
message is assigned inside the transaction (``records.insert_message``), so a duplicate
``client_msg_id`` never consumes one, and results arrive in seq order because the Store
commits in submission order.

Only after a commit does the group ack the author and broadcast to subscribers: nothing
is shown that could still be lost.

Error handling: a failed write is reported to whoever asked (error frame or failed
reply); the group keeps serving. An exception inside the group's own code crashes it;
the supervisor restarts it with the same mailbox, and every subscription it held is told
(``on_lost``) so its session rejoins from the last seq it delivered.

The commands it takes, and the helpers that answer them, are in actors/group_commands.py.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import outcome
import trio

from actors import conversation_update, history, records
from actors.group_commands import (
    Command,
    DeleteMessage,
    EditMessage,
    ListOnline,
    MarkRead,
    Post,
    SetTyping,
    Subscribe,
    Unsubscribe,
    Update,
    acknowledge,
    answer_crash,
    answer_late,
    as_exception,
)
from actors.message_batch import insert_messages
from actors.outbox import OutFrame, Subscription
from actors.records import StoredMessage
from actors.store import BatchFn, Store, Tx
from protocol.errors import ErrorCode
from protocol.frames import (
    ConversationFrame,
    ErrorFrame,
    Participant,
    Presence,
    Receipt,
    TypingFrame,
)

log = logging.getLogger(__name__)

#: Writes handed to the Store and not yet committed; bounds memory per group and gives
#: backpressure to senders when the disk falls behind.
MAX_IN_FLIGHT = 1024


def _last_seq_tx(tx: Tx, conversation: str) -> int:
    return history.last_seq(tx.conn, conversation)


def _identity_key(p: Participant) -> tuple[str, str]:
    return (p.kind, p.id)


def _public_state(state: dict[str, Any]) -> dict[str, Any]:
    """What a contact may see of the conversation's state (no tags, assignees, notes)."""
    return {"id": state["id"], "status": state["status"], "last_seq": state["last_seq"]}


class ConversationGroup:
    """One conversation's actor (see module docstring).

    Args:
        conversation: the conversation id.
        store: the Store all writes go through.
        retire: asks the registry to retire this actor; True means it may stop now.
        idle_timeout: seconds without commands and subscribers before retiring.
    """

    def __init__(
        self,
        conversation: str,
        store: Store,
        *,
        retire: Callable[[], bool],
        idle_timeout: float,
    ) -> None:
        self.conversation = conversation
        self._store = store
        self._retire = retire
        self._idle_timeout = idle_timeout
        self._subs: dict[int, Subscription] = {}
        self._online: Counter[tuple[str, str]] = Counter()
        self._participants: dict[tuple[str, str], Participant] = {}
        self._committed_seq = 0
        self._in_flight = trio.Semaphore(MAX_IN_FLIGHT)
        self._results_send, self._results = trio.open_memory_channel[
            tuple[Command, outcome.Outcome[Any]]
        ](MAX_IN_FLIGHT)

    async def run(
        self,
        inbox: trio.MemoryReceiveChannel[Command],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Load the conversation, then serve commands until idle (or cancelled)."""
        # Read through the writer, not a reader: the Store commits in submission order, so
        # this also waits for every write a crashed predecessor left in flight. A reader
        # could see the seq before those commit, and a rejoin would then skip them.
        self._committed_seq = await self._store.write(
            functools.partial(_last_seq_tx, conversation=self.conversation)
        )
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._results_loop)
                await self._command_loop(inbox)
                nursery.cancel_scope.cancel()
        finally:
            self._results_send.close()
            subs, self._subs = list(self._subs.values()), {}
            for sub in subs:
                sub.on_lost(sub)

    async def _command_loop(self, inbox: trio.MemoryReceiveChannel[Command]) -> None:
        while True:
            command: Command | None = None
            # Only the wait is timed: handling a command is never cut short.
            with trio.move_on_after(self._idle_timeout):
                try:
                    command = await inbox.receive()
                except trio.EndOfChannel:
                    return
            if command is not None:
                try:
                    await self._handle(command)
                except Exception as exc:
                    answer_crash(command, exc)
                    raise
                continue
            idle = not self._subs and self._in_flight.value == MAX_IN_FLIGHT
            if idle and self._retire():
                log.debug("group.retired conversation=%s", self.conversation)
                return

    async def _handle(self, command: Command) -> None:
        match command:
            case Subscribe():
                self._subscribe(command)
            case Unsubscribe():
                self._unsubscribe(command.sub)
            case SetTyping():
                frame = OutFrame(
                    TypingFrame(
                        conversation=self.conversation, author=command.author, active=command.active
                    )
                )
                for sub in self._subs.values():
                    if sub.session != command.session:
                        sub.deliver(frame)
            case Post():
                await self._submit(
                    command,
                    functools.partial(records.insert_message, msg=command.msg),
                    batch=insert_messages,
                    item=command.msg,
                )
            case MarkRead():
                await self._submit(
                    command,
                    functools.partial(
                        records.mark_read,
                        conversation=self.conversation,
                        reader=command.reader,
                        seq=command.seq,
                    ),
                )
            case Update():
                await self._submit(
                    command,
                    functools.partial(
                        conversation_update.update_conversation,
                        conversation=self.conversation,
                        changes=command.changes,
                        by=command.by,
                    ),
                )
            case EditMessage():
                await self._submit(
                    command,
                    functools.partial(
                        records.edit_message,
                        conversation=self.conversation,
                        seq=command.seq,
                        body=command.body,
                        editor=command.editor,
                    ),
                )
            case DeleteMessage():
                await self._submit(
                    command,
                    functools.partial(
                        records.delete_message,
                        conversation=self.conversation,
                        seq=command.seq,
                        by=command.by,
                    ),
                )
            case ListOnline():
                command.reply.send(self.online())

    async def _submit(
        self,
        command: Command,
        fn: Callable[..., Any],
        *,
        batch: BatchFn | None = None,
        item: Any = None,
    ) -> None:
        await self._in_flight.acquire()
        results = self._results_send

        def done(result: outcome.Outcome[Any]) -> None:
            try:
                results.send_nowait((command, result))
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                # This instance is gone (its subscribers were told to rejoin, and the next
                # instance replays from the store); still answer whoever is waiting.
                answer_late(command, result)

        await self._store.submit(fn, done, batch=batch, item=item)

    async def _results_loop(self) -> None:
        async for first in self._results:
            # Handle every result that is ready before yielding: a commit hands over all
            # of its results at once, and handling them together puts all their frames in
            # the outboxes before any session writer runs, so each writer sends one batch
            # frame instead of one frame per message (the cost on this stack is per frame).
            self._handle_result(*first)
            while True:
                try:
                    command, result = self._results.receive_nowait()
                except trio.WouldBlock:
                    break
                self._handle_result(command, result)

    def _handle_result(self, command: Command, result: outcome.Outcome[Any]) -> None:
        self._in_flight.release()
        match command:
            case Post():
                self._post_done(command, result)
            case MarkRead():
                self._read_done(command, result)
            case Update():
                self._update_done(command, result)
            case EditMessage() | DeleteMessage():
                self._change_done(command, result)
            case _:
                raise AssertionError(f"no result expected for {command!r}")

    # -- results ----------------------------------------------------------------------------

    def _post_done(self, command: Post, result: outcome.Outcome[StoredMessage]) -> None:
        msg = command.msg
        if isinstance(result, outcome.Error):
            error = as_exception(result.error)
            log.warning("group.post_failed conversation=%s error=%r", self.conversation, error)
            if command.ack_to is not None:
                code = (
                    ErrorCode.NOT_FOUND
                    if isinstance(error, records.NotFound)
                    else ErrorCode.INTERNAL
                )
                code_value = code.value
                command.ack_to.push(
                    OutFrame(ErrorFrame(code=code_value, message=str(error), ref=msg.client_msg_id))
                )
            if command.reply is not None:
                command.reply.fail(error)
            return
        stored = result.unwrap()
        if not stored.duplicate:
            self._broadcast_message(stored)
        acknowledge(command, stored)

    def _broadcast_message(self, stored: StoredMessage) -> None:
        self._committed_seq = max(self._committed_seq, stored.seq)
        frame = OutFrame(stored.to_frame())
        internal = stored.internal
        for sub in self._subs.values():
            if internal and not sub.is_staff:
                continue
            sub.deliver(frame, stored.seq)

    def _read_done(self, command: MarkRead, result: outcome.Outcome[int | None]) -> None:
        if isinstance(result, outcome.Error):
            if command.error_to is not None:
                command.error_to.push(
                    OutFrame(
                        ErrorFrame(
                            code=ErrorCode.INTERNAL.value, message=str(result.error), ref=None
                        )
                    )
                )
            return
        seq = result.unwrap()
        if seq is None:
            return
        frame = OutFrame(Receipt(conversation=self.conversation, reader=command.reader, seq=seq))
        for sub in self._subs.values():
            sub.deliver(frame)

    def _update_done(
        self,
        command: Update,
        result: outcome.Outcome[tuple[dict[str, Any], list[StoredMessage]]],
    ) -> None:
        if isinstance(result, outcome.Error):
            command.reply.fail(as_exception(result.error))
            return
        state, events = result.unwrap()
        for event in events:
            self._broadcast_message(event)
        if events:
            staff = OutFrame(
                ConversationFrame(conversation=self.conversation, event="updated", state=state)
            )
            public = OutFrame(
                ConversationFrame(
                    conversation=self.conversation, event="updated", state=_public_state(state)
                )
            )
            for sub in self._subs.values():
                sub.deliver(staff if sub.is_staff else public)
        command.reply.send(state)

    def _change_done(
        self, command: EditMessage | DeleteMessage, result: outcome.Outcome[StoredMessage]
    ) -> None:
        """An edit or delete committed: the frame replaces the message clients have."""
        if isinstance(result, outcome.Error):
            command.reply.fail(as_exception(result.error))
            return
        stored = result.unwrap()
        frame = OutFrame(stored.to_frame())
        for sub in self._subs.values():
            if stored.internal and not sub.is_staff:
                continue
            # No seq: the subscriber has this seq already, and the frame must still go out.
            sub.deliver(frame)
        command.reply.send(stored)

    # -- membership ------------------------------------------------------------------------

    def _subscribe(self, command: Subscribe) -> None:
        sub = command.sub
        self._subs[id(sub)] = sub
        key = _identity_key(sub.identity)
        # Tell the newcomer who is here already (held until its history is replayed).
        for other_key, count in self._online.items():
            if count and other_key != key:
                sub.deliver(
                    OutFrame(
                        Presence(
                            conversation=self.conversation,
                            participant=self._participants[other_key],
                            status="online",
                        )
                    )
                )
        self._online[key] += 1
        self._participants[key] = sub.identity
        if self._online[key] == 1:
            self._announce(sub, "online")
        command.reply.send(self._committed_seq)

    def _unsubscribe(self, sub: Subscription) -> None:
        if self._subs.pop(id(sub), None) is None:
            return
        key = _identity_key(sub.identity)
        self._online[key] -= 1
        if self._online[key] <= 0:
            del self._online[key]
            self._participants.pop(key, None)
            self._announce(sub, "offline")

    def _announce(self, sub: Subscription, status: str) -> None:
        frame = OutFrame(
            Presence(conversation=self.conversation, participant=sub.identity, status=status)  # type: ignore[arg-type]
        )
        for other in self._subs.values():
            if other is not sub:
                other.deliver(frame)

    # -- introspection (tests, metrics) -----------------------------------------------------

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def online(self) -> list[Participant]:
        return [self._participants[key] for key, count in self._online.items() if count]
