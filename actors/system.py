"""The running system: the supervision tree and the handle the server edges use.

::

    root (one_for_one)
    ├── store            the single SQLite writer
    ├── groups           supervisor of the ConversationGroups (started on demand)
    ├── livefeed         event-log consumer pushing inbox changes
    └── search_index     event-log consumer indexing messages for full-text search

Children start in that order and stop in reverse, so the store outlives everything that
writes to it. One :class:`System` per process, created by the server and passed
explicitly (no module globals).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from actors.consumer import Consumer, run_consumer
from actors.group import ConversationGroup
from actors.group_commands import Command, Post, Subscribe, Unsubscribe, Update
from actors.livefeed import LiveFeed
from actors.outbox import Outbox, Subscription
from actors.presence import ContactSessions, StaffPresence
from actors.records import ConversationChanges, NewMessage, StoredMessage
from actors.registry import Registry
from actors.runtime import ActorStopped
from actors.search_indexer import SearchIndexer
from actors.store import Store, now_ms
from actors.supervisor import ChildSpec, Restart, Supervisor
from protocol.frames import Participant

log = logging.getLogger(__name__)


def _nothing() -> None:
    """The wake-up of a worker that is not running: nothing to wake."""


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """What the actors need from the settings (the server maps Settings onto it)."""

    database: Path
    synchronous: str = "FULL"
    group_mailbox: int = 1024
    group_idle_timeout: float = 300.0
    #: OTP-style: more than this many group restarts within the period escalate.
    group_restart_intensity: int = 20
    group_restart_period: float = 10.0
    call_timeout: float = 30.0
    #: Milliseconds since the epoch for every timestamp the system writes and every
    #: durable timer it keeps (recipes); tests pass one driven by trio's MockClock.
    clock: Callable[[], int] = now_ms
    #: Where people reach the server (links to the console in recipe webhooks and mail).
    public_url: str = "http://127.0.0.1:8080"


class System:
    """Owns the supervision tree (see module docstring)."""

    def __init__(self, config: SystemConfig) -> None:
        self.config = config
        self.store = Store(config.database, synchronous=config.synchronous, clock=config.clock)
        self.root = Supervisor("root", intensity=3, period=30.0)
        self.groups_supervisor = Supervisor(
            "groups",
            intensity=config.group_restart_intensity,
            period=config.group_restart_period,
        )
        self.groups: Registry[str, Command] = Registry(
            self.groups_supervisor,
            self._group_spec,
            mailbox_size=config.group_mailbox,
            name="groups",
        )
        self.livefeed = LiveFeed(self.store)
        #: Who is connected (the websocket sessions report here): staff online for recipes'
        #: round robin and smart assign; contacts' sessions, closed when one is blocked.
        self.staff_presence = StaffPresence()
        self.contact_sessions = ContactSessions()
        #: Replaced by the WebhookDispatcher and the Mailer when they are created: recipe
        #: runs wake them after queueing deliveries or staff mail outside the event log.
        self.wake_webhooks: Callable[[], None] = _nothing
        self.wake_mailer: Callable[[], None] = _nothing
        self._consumers: list[Consumer] = [self.livefeed, SearchIndexer(self.store)]

    def add_consumer(self, consumer: Consumer) -> None:
        """Register another event-log consumer; call before :meth:`run`."""
        self._consumers.append(consumer)

    async def run(self, *, task_status: trio.TaskStatus[System] = trio.TASK_STATUS_IGNORED) -> None:
        children = [
            ChildSpec("store", self.store.run, Restart.PERMANENT),
            ChildSpec("groups", self.groups_supervisor.run, Restart.PERMANENT),
        ]
        for consumer in self._consumers:
            children.append(
                ChildSpec(
                    f"consumer:{consumer.name}",
                    functools.partial(run_consumer, self.store, consumer),
                    Restart.PERMANENT,
                )
            )
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(self.root.run, children))
            task_status.started(self)

    def _group_spec(self, key: str, inbox: trio.MemoryReceiveChannel[Command]) -> ChildSpec:
        def retire() -> bool:
            ref = self.groups.lookup(key)
            return ref is not None and self.groups.retire(key, ref)

        async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            group = ConversationGroup(
                key, self.store, retire=retire, idle_timeout=self.config.group_idle_timeout
            )
            await group.run(inbox, task_status=task_status)

        return ChildSpec(f"group:{key}", start, Restart.TRANSIENT)

    # -- facade for the edges ----------------------------------------------------------------

    async def post(self, msg: NewMessage, *, ack_to: Outbox | None = None) -> StoredMessage:
        """Append a message through its group and wait for the commit."""
        result: StoredMessage = await self.groups.call(
            msg.conversation,
            lambda reply: Post(msg, ack_to=ack_to, reply=reply),
            timeout=self.config.call_timeout,
        )
        return result

    async def post_nowait(self, msg: NewMessage, ack_to: Outbox) -> None:
        """Hand a message to its group; the ack (or error) reaches ``ack_to`` later."""
        await self.groups.send(msg.conversation, Post(msg, ack_to=ack_to))

    async def update(
        self, conversation: str, changes: ConversationChanges, by: Participant
    ) -> dict[str, Any]:
        """Apply changes to a conversation through its group; return the new state."""
        state: dict[str, Any] = await self.groups.call(
            conversation,
            lambda reply: Update(changes, by, reply),
            timeout=self.config.call_timeout,
        )
        return state

    async def subscribe(self, sub: Subscription) -> int:
        """Subscribe; return the seq up to which the caller must replay history."""
        seq: int = await self.groups.call(
            sub.conversation,
            lambda reply: Subscribe(sub, reply),
            timeout=self.config.call_timeout,
        )
        return seq

    async def unsubscribe(self, sub: Subscription) -> None:
        ref = self.groups.lookup(sub.conversation)
        if ref is None:
            return
        try:
            await ref.send(Unsubscribe(sub))
        except ActorStopped:
            pass

    async def send_to_group(self, conversation: str, command: Command) -> None:
        await self.groups.send(conversation, command)
