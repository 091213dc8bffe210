"""Messages and their SQL: the message and change types, how a ``messages`` row becomes a
message, and the message writes the ConversationGroup hands to the Store (append, read
marks, edits and deletes).

Write functions take a :class:`~actors.store.Tx` and run inside a group-committed
transaction. Nothing here awaits. The history reads live in actors/history.py and the
conversation update path in actors/conversation_update.py; both build on the types here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from actors.store import Tx
from protocol.frames import Attachment, MessageFrame, Participant

#: Characters of a message body kept as the conversation's inbox preview.
PREVIEW_CHARS = 140

#: A conversation's status and priority values (actors/recipe_fields.py repeats them for
#: the pure recipe model; a test checks the two agree).
STATUSES = ("open", "pending", "resolved")
PRIORITIES = ("none", "low", "medium", "high", "urgent")


class NotFound(LookupError):
    """The conversation (or message) does not exist."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message a ConversationGroup is asked to append."""

    conversation: str
    author: Participant
    kind: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    client_msg_id: str | None = None
    in_reply_to: int | None = None
    data: dict[str, Any] | None = None
    #: Staff only (never sent to contacts). Notes are always internal.
    internal: bool = False
    #: Who really wrote it, when ``author`` is who it appears from (a console reply shown
    #: as the webinar's primary moderator). Resends are recognised per writer.
    sender: Participant | None = None

    @property
    def is_internal(self) -> bool:
        return self.internal or self.kind == "note"

    @property
    def writer(self) -> Participant:
        return self.sender or self.author


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A committed message; ``duplicate`` is True when the client_msg_id was seen before."""

    conversation: str
    seq: int
    kind: str
    author: Participant
    body: str
    attachments: tuple[Attachment, ...]
    client_msg_id: str | None
    in_reply_to: int | None
    data: dict[str, Any] | None
    ts: int
    duplicate: bool = False
    #: Staff only: notes and internal change events.
    internal: bool = False
    #: Set by :func:`edit_message` / :func:`delete_message` for the frame that replaces it.
    edited_at: int | None = None
    deleted: bool = False

    def to_frame(self) -> MessageFrame:
        return MessageFrame(
            conversation=self.conversation,
            seq=self.seq,
            kind=self.kind,  # type: ignore[arg-type]
            author=self.author,
            body=self.body,
            attachments=self.attachments,
            client_msg_id=self.client_msg_id,
            in_reply_to=self.in_reply_to,
            ts=self.ts,
            data=self.data,
            edited_at=self.edited_at,
            deleted=self.deleted,
        )

    def to_json(self) -> dict[str, Any]:
        """The REST representation."""
        return {
            "conversation": self.conversation,
            "seq": self.seq,
            "kind": self.kind,
            "author": participant_json(self.author),
            "body": self.body,
            "attachments": [attachment_json(a) for a in self.attachments],
            "client_msg_id": self.client_msg_id,
            "in_reply_to": self.in_reply_to,
            "data": self.data,
            "internal": self.internal,
            "ts": self.ts,
            "edited_at": self.edited_at,
            "deleted": self.deleted,
        }


@dataclass(slots=True)
class ConversationChanges:
    """What an update asks to change; None means leave as is."""

    status: str | None = None
    assignee_user: str | None = None
    assignee_team: str | None = None
    clear_assignee: bool = False
    priority: str | None = None
    tags_add: tuple[str, ...] = ()
    tags_remove: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)
    #: Why the change is made when it is not a person's doing, e.g. a recipe run:
    #: ``{"recipe": id, "version": n, "run": id, "depth": d, "chain": [ids]}``. Copied into
    #: the ``conversation.updated`` payload and the history entries, so consumers can tell
    #: (a recipe is not re-triggered by its own actions; chains stop at a depth).
    cause: dict[str, Any] | None = None


def participant_json(p: Participant) -> dict[str, str]:
    return {"kind": p.kind, "id": p.id, "name": p.name}


def attachment_json(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "url": a.url,
    }


def _attachments_from_json(text: str) -> tuple[Attachment, ...]:
    if text == "[]":
        return ()
    return tuple(Attachment(**item) for item in json.loads(text))


def message_payload(m: StoredMessage) -> dict[str, Any]:
    """The ``message.posted`` event payload (JSON-safe)."""
    return m.to_json()


# -- rows -----------------------------------------------------------------------------------


#: The columns :func:`row_to_message` reads, in its order.
MESSAGE_COLUMNS = (
    "seq, kind, author_kind, author_id, author_name, body, attachments, client_msg_id, "
    "in_reply_to, data, created_at, internal, edited_at, deleted_at"
)


def row_to_message(conversation: str, row: Sequence[Any]) -> StoredMessage:
    """The stored message of a ``messages`` row read with :data:`MESSAGE_COLUMNS`."""
    return StoredMessage(
        conversation=conversation,
        seq=row[0],
        kind=row[1],
        author=Participant(kind=row[2], id=row[3], name=row[4]),
        body=row[5],
        attachments=_attachments_from_json(row[6]),
        client_msg_id=row[7],
        in_reply_to=row[8],
        data=json.loads(row[9]) if row[9] else None,
        ts=row[10],
        internal=bool(row[11]),
        edited_at=row[12],
        deleted=row[13] is not None,
    )


# -- writes (run inside the Store's transaction) --------------------------------------------


#: The columns :func:`stored_duplicate` reads, in its order.
DUPLICATE_COLUMNS = (
    "seq, kind, body, attachments, in_reply_to, data, created_at, internal, "
    "author_kind, author_id, author_name"
)


def stored_duplicate(msg: NewMessage, row: Sequence[Any]) -> StoredMessage:
    """The stored message a resend of ``msg`` answers with (``row``: DUPLICATE_COLUMNS)."""
    return StoredMessage(
        conversation=msg.conversation,
        seq=row[0],
        kind=row[1],
        author=Participant(kind=row[8], id=row[9], name=row[10]),
        body=row[2],
        attachments=_attachments_from_json(row[3]),
        client_msg_id=msg.client_msg_id,
        in_reply_to=row[4],
        data=json.loads(row[5]) if row[5] else None,
        ts=row[6],
        duplicate=True,
        internal=bool(row[7]),
    )


def insert_message(tx: Tx, msg: NewMessage) -> StoredMessage:
    """Append a message with the conversation's next seq, idempotent by client_msg_id.

    A resend of a (writer, client_msg_id) already stored returns the stored message marked
    ``duplicate`` and writes nothing, so it never consumes a seq.

    Raises:
        NotFound: the conversation does not exist.
    """
    author = msg.author
    writer = msg.writer
    if msg.client_msg_id is not None:
        row = tx.execute(
            f"SELECT {DUPLICATE_COLUMNS} FROM messages "
            "WHERE conversation_id = ? AND sender_kind = ? AND sender_id = ? "
            "AND client_msg_id = ?",
            (msg.conversation, writer.kind, writer.id, msg.client_msg_id),
        ).fetchone()
        if row is not None:
            return stored_duplicate(msg, row)
    now = tx.now_ms
    if msg.kind == "message" and not msg.is_internal:
        customer = author.kind == "contact"
        row = tx.execute(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?, "
            "last_activity_at = ?, preview = ?, "
            "last_customer_at = CASE WHEN ? THEN ? ELSE last_customer_at END, "
            "last_staff_at = CASE WHEN ? THEN ? ELSE last_staff_at END "
            "WHERE id = ? RETURNING last_seq",
            (
                now,
                now,
                msg.body[:PREVIEW_CHARS],
                customer,
                now,
                author.kind == "staff",
                now,
                msg.conversation,
            ),
        ).fetchone()
    else:
        row = tx.execute(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? "
            "WHERE id = ? RETURNING last_seq",
            (now, msg.conversation),
        ).fetchone()
    if row is None:
        raise NotFound(f"conversation {msg.conversation} does not exist")
    stored = StoredMessage(
        conversation=msg.conversation,
        seq=row[0],
        kind=msg.kind,
        author=author,
        body=msg.body,
        attachments=msg.attachments,
        client_msg_id=msg.client_msg_id,
        in_reply_to=msg.in_reply_to,
        data=msg.data,
        ts=now,
        internal=msg.is_internal,
    )
    tx.execute(
        "INSERT INTO messages (conversation_id, seq, kind, author_kind, author_id, author_name, "
        "body, attachments, client_msg_id, in_reply_to, data, internal, sender_kind, "
        "sender_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            msg.conversation,
            stored.seq,
            msg.kind,
            author.kind,
            author.id,
            author.name,
            msg.body,
            json.dumps([attachment_json(a) for a in msg.attachments]) if msg.attachments else "[]",
            msg.client_msg_id,
            msg.in_reply_to,
            json.dumps(msg.data) if msg.data is not None else None,
            msg.is_internal,
            writer.kind,
            writer.id,
            now,
        ),
    )
    tx.append_event("message.posted", msg.conversation, message_payload(stored))
    return stored


def mark_read(tx: Tx, conversation: str, reader: Participant, seq: int) -> int | None:
    """Move the reader's read mark forward to ``seq``; return it, or None if unchanged.

    Read marks never move backwards, and never past the conversation's last seq.
    """
    last = tx.execute("SELECT last_seq FROM conversations WHERE id = ?", (conversation,)).fetchone()
    if last is None:
        raise NotFound(f"conversation {conversation} does not exist")
    seq = min(seq, last[0])
    cur = tx.execute(
        "INSERT INTO read_marks (conversation_id, reader_kind, reader_id, seq, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id, reader_kind, reader_id) "
        "DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at "
        "WHERE excluded.seq > read_marks.seq",
        (conversation, reader.kind, reader.id, seq, tx.now_ms),
    )
    if cur.rowcount == 0:
        return None
    tx.append_event(
        "message.read",
        conversation,
        {
            "conversation": conversation,
            "reader": participant_json(reader),
            "seq": seq,
            "ts": tx.now_ms,
        },
    )
    return seq


# -- message edits and deletes (issue 4: Slack edits and deletes reach the attendee) ----------


def _live_message(tx: Tx, conversation: str, seq: int) -> StoredMessage:
    row = tx.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq = ? "
        "AND deleted_at IS NULL",
        (conversation, seq),
    ).fetchone()
    if row is None:
        raise NotFound(f"message {seq} of conversation {conversation} does not exist")
    return row_to_message(conversation, row)


def edit_message(
    tx: Tx, conversation: str, seq: int, body: str, editor: Participant
) -> StoredMessage:
    """Replace a message's body and append ``message.edited``; return the edited message.

    Raises:
        NotFound: no such message, or it was deleted.
    """
    stored = _live_message(tx, conversation, seq)
    tx.execute(
        "UPDATE messages SET body = ?, edited_at = ? WHERE conversation_id = ? AND seq = ?",
        (body, tx.now_ms, conversation, seq),
    )
    tx.append_event(
        "message.edited",
        conversation,
        {
            "conversation": conversation,
            "seq": seq,
            "body": body,
            "editor": participant_json(editor),
            "ts": tx.now_ms,
        },
    )
    return dataclasses.replace(stored, body=body, edited_at=tx.now_ms)


def delete_message(tx: Tx, conversation: str, seq: int, by: Participant) -> StoredMessage:
    """Mark a message deleted (its seq stays taken) and append ``message.deleted``.

    The returned message has an empty body and ``deleted`` set: the frame that tells
    clients to drop it must not carry what was deleted.

    Raises:
        NotFound: no such message, or it was deleted already.
    """
    stored = _live_message(tx, conversation, seq)
    tx.execute(
        "UPDATE messages SET deleted_at = ? WHERE conversation_id = ? AND seq = ?",
        (tx.now_ms, conversation, seq),
    )
    tx.append_event(
        "message.deleted",
        conversation,
        {"conversation": conversation, "seq": seq, "by": participant_json(by), "ts": tx.now_ms},
    )
    return dataclasses.replace(stored, body="", attachments=(), deleted=True)
