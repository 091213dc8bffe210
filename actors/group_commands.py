"""The commands a ConversationGroup takes, and how their askers are answered.

Split from actors/group.py, which keeps the actor itself: callers (the System, sessions,
the Slack bridge, the mailer, recipes) build these and need nothing else of the group.
The answering helpers live here too because they depend only on a command's own reply
fields: the ack or error frame for a post, the reply of an update, edit or delete. The
group uses them after a commit, when its instance stopped before a commit came back
(:func:`answer_late`), and when it crashes handling a command (:func:`answer_crash`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import outcome

from actors.outbox import Outbox, OutFrame, Subscription
from actors.records import ConversationChanges, NewMessage, StoredMessage
from actors.runtime import ActorCrashed, Reply
from protocol.errors import ErrorCode
from protocol.frames import Ack, ErrorFrame, Participant


@dataclass(slots=True)
class Subscribe:
    """Add a subscription; replies with the seq up to which history must be replayed."""

    sub: Subscription
    reply: Reply[int]


@dataclass(slots=True)
class Unsubscribe:
    sub: Subscription


@dataclass(slots=True)
class Post:
    """Append a message. The ack (or error) goes to ``ack_to``; ``reply`` gets the result."""

    msg: NewMessage
    ack_to: Outbox | None = None
    reply: Reply[StoredMessage] | None = None


@dataclass(slots=True)
class SetTyping:
    author: Participant
    session: str
    active: bool


@dataclass(slots=True)
class MarkRead:
    reader: Participant
    seq: int
    error_to: Outbox | None = None


@dataclass(slots=True)
class Update:
    changes: ConversationChanges
    by: Participant
    reply: Reply[dict[str, Any]]


# -- edits, deletes and presence queries (issue 4: the Slack bridge and the mailer) ----------


@dataclass(slots=True)
class EditMessage:
    """Replace a message's body; ``reply`` gets the edited message (``records.NotFound``)."""

    seq: int
    body: str
    editor: Participant
    reply: Reply[StoredMessage]


@dataclass(slots=True)
class DeleteMessage:
    """Delete a message (its seq stays taken); ``reply`` gets it with ``deleted`` set."""

    seq: int
    by: Participant
    reply: Reply[StoredMessage]


@dataclass(slots=True)
class ListOnline:
    """Who is subscribed right now (the mailer emails replies to offline attendees)."""

    reply: Reply[list[Participant]]


Command = (
    Subscribe
    | Unsubscribe
    | Post
    | SetTyping
    | MarkRead
    | Update
    | EditMessage
    | DeleteMessage
    | ListOnline
)


def as_exception(error: BaseException) -> Exception:
    """Store results carry Exceptions only (it catches Exception); narrow for Reply.fail."""
    if isinstance(error, Exception):
        return error
    raise error


def answer_crash(command: Command, exc: Exception) -> None:
    """The group crashed handling ``command``: tell the one waiting for it, then die."""
    error = ActorCrashed(f"conversation actor failed: {exc}")
    error.__cause__ = exc
    reply = getattr(command, "reply", None)
    if isinstance(reply, Reply) and not reply.done:
        reply.fail(error)
    if isinstance(command, Post) and command.ack_to is not None:
        command.ack_to.push(
            OutFrame(
                ErrorFrame(
                    code=ErrorCode.INTERNAL.value,
                    message="the message was not stored; send it again",
                    ref=command.msg.client_msg_id,
                )
            )
        )


def acknowledge(command: Post, stored: StoredMessage) -> None:
    """Ack the author's session and answer the caller of a committed post."""
    if command.ack_to is not None and stored.client_msg_id is not None:
        command.ack_to.push(
            OutFrame(
                Ack(
                    conversation=stored.conversation,
                    client_msg_id=stored.client_msg_id,
                    seq=stored.seq,
                    ts=stored.ts,
                )
            )
        )
    if command.reply is not None:
        command.reply.send(stored)


def answer_late(command: Command, result: outcome.Outcome[Any]) -> None:
    """A write committed after its group instance stopped: answer the caller anyway."""
    if isinstance(command, Post):
        if isinstance(result, outcome.Value):
            acknowledge(command, result.value)
        elif command.reply is not None and isinstance(result, outcome.Error):
            command.reply.fail(as_exception(result.error))
    elif isinstance(command, Update):
        if isinstance(result, outcome.Value):
            command.reply.send(result.value[0])
        elif isinstance(result, outcome.Error):
            command.reply.fail(as_exception(result.error))
    elif isinstance(command, EditMessage | DeleteMessage):
        if isinstance(result, outcome.Value):
            command.reply.send(result.value)
        elif isinstance(result, outcome.Error):
            command.reply.fail(as_exception(result.error))
