"""LiveFeed: pushes inbox changes to the staff sessions that watch the inbox.

A consumer of the event log (``live_only``: a session that connects later loads the inbox
over REST, so a restart need not replay the past). For each batch of events it reads the
current state of every conversation the batch touched, once, and pushes one
``conversation`` frame per conversation to every watching session: new conversations,
new messages, status, assignee, tag and priority changes appear without a reload.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from actors import history
from actors.outbox import Outbox, OutFrame
from actors.store import Store, StoredEvent
from protocol.frames import ConversationFrame

log = logging.getLogger(__name__)

#: Event type -> the ``event`` field of the conversation frame it causes.
_INBOX_EVENTS = {
    "conversation.created": "created",
    "conversation.updated": "updated",
    "message.posted": "message",
}


_RANK = {"message": 0, "updated": 1, "created": 2}


class LiveFeed:
    """The inbox consumer (see module docstring)."""

    name = "livefeed"
    live_only = True

    def __init__(self, store: Store) -> None:
        self._store = store
        self._watchers: dict[int, Outbox] = {}

    def watch(self, outbox: Outbox) -> None:
        self._watchers[id(outbox)] = outbox

    def unwatch(self, outbox: Outbox) -> None:
        self._watchers.pop(id(outbox), None)

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        if not self._watchers:
            return
        # The strongest reason per conversation in this batch: a new conversation must be
        # added as a row, an update (status, assignee...) outranks the event message it
        # writes into the history.
        touched: dict[str, str] = {}
        for event in events:
            kind = _INBOX_EVENTS.get(event.type)
            if kind is None or event.conversation is None:
                continue
            current = touched.get(event.conversation)
            if current is None or _RANK[kind] > _RANK[current]:
                touched[event.conversation] = kind
        if not touched:
            return
        states = await self._store.read(
            functools.partial(history.conversation_states, ids=list(touched))
        )
        for state in states:
            frame = OutFrame(
                ConversationFrame(
                    conversation=state["id"],
                    event=touched[state["id"]],  # type: ignore[arg-type]
                    state=state,
                )
            )
            for outbox in list(self._watchers.values()):
                outbox.push(frame)
