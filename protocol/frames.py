"""Websocket frames of protocol v1 as frozen dataclasses, plus the limits they obey.

One class per wire ``type`` (the ``TYPE`` class variable). Sequence fields are tuples so
frames stay immutable; the free-form fields (``limits``, ``state``, ``data``) are plain
dicts holding JSON values. Constructing a frame does not validate it (that would cost on
the hot path twice); :mod:`protocol.wire` validates when a frame is encoded or decoded.
Field order is the wire key order: required fields first, then fields with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeAlias, get_args

if TYPE_CHECKING:
    from protocol.errors import ProtocolError

__all__ = [
    "CLIENT_FRAMES",
    "CONVERSATION_EVENTS",
    "MAX_ATTACHMENTS",
    "MAX_BODY_BYTES",
    "MAX_CLIENT_CHARS",
    "MAX_CONTENT_TYPE_CHARS",
    "MAX_ERROR_MESSAGE_CHARS",
    "MAX_FRAME_BYTES",
    "MAX_ID_CHARS",
    "MAX_INT",
    "MAX_NAME_CHARS",
    "MAX_TOKEN_CHARS",
    "MAX_URL_CHARS",
    "MESSAGE_KINDS",
    "PARTICIPANT_KINDS",
    "PRESENCE_STATUSES",
    "SEND_KINDS",
    "SERVER_FRAMES",
    "Ack",
    "Attachment",
    "Batch",
    "ClientFrame",
    "ConversationEvent",
    "ConversationFrame",
    "ErrorFrame",
    "Frame",
    "Hello",
    "HistoryEnd",
    "Join",
    "Leave",
    "MessageFrame",
    "MessageKind",
    "Participant",
    "ParticipantKind",
    "Ping",
    "Pong",
    "Presence",
    "PresenceStatus",
    "Read",
    "Receipt",
    "Send",
    "SendKind",
    "ServerFrame",
    "Typing",
    "TypingFrame",
    "Welcome",
]

# --- limits (published in docs/protocol.md; both peers enforce them) -------------------
#: A whole websocket message, encoded. Bounds what a peer must buffer and parse.
MAX_FRAME_BYTES: Final = 65536
#: A message body in UTF-8 bytes (16 KiB): long enough for prose, short enough for Slack.
MAX_BODY_BYTES: Final = 16384
#: Attachments per message; more belong in an archive.
MAX_ATTACHMENTS: Final = 10
#: Ids: conversation, client_msg_id, ref, attachment and participant ids, session.
MAX_ID_CHARS: Final = 64
#: The ``hello.client`` name/version string.
MAX_CLIENT_CHARS: Final = 64
#: Tokens (signed, so a few hundred characters; generous for future claims).
MAX_TOKEN_CHARS: Final = 8192
#: Display names of participants and attachment file names.
MAX_NAME_CHARS: Final = 256
#: Attachment MIME types.
MAX_CONTENT_TYPE_CHARS: Final = 256
#: Attachment download URLs.
MAX_URL_CHARS: Final = 2048
#: Human readable error messages.
MAX_ERROR_MESSAGE_CHARS: Final = 1024
#: Every integer travels as a signed 64-bit value (SQLite INTEGER, msgpack int64).
MAX_INT: Final = 2**63 - 1

# --- enumerated string values --------------------------------------------------------
#: Who a participant is: an outside person, a staff user, a bot/recipe, or the system.
ParticipantKind: TypeAlias = Literal["contact", "staff", "bot", "system"]
#: Messages: ordinary, internal staff note (never shown to contacts), or a timeline event.
MessageKind: TypeAlias = Literal["message", "note", "event"]
#: What a client may send: events are produced by the server only.
SendKind: TypeAlias = Literal["message", "note"]
#: Presence of a participant in a conversation.
PresenceStatus: TypeAlias = Literal["online", "offline"]
#: Why a ``conversation`` (inbox) frame was pushed.
ConversationEvent: TypeAlias = Literal["created", "updated", "message"]

PARTICIPANT_KINDS: Final[frozenset[str]] = frozenset(get_args(ParticipantKind))
MESSAGE_KINDS: Final[frozenset[str]] = frozenset(get_args(MessageKind))
SEND_KINDS: Final[frozenset[str]] = frozenset(get_args(SendKind))
PRESENCE_STATUSES: Final[frozenset[str]] = frozenset(get_args(PresenceStatus))
CONVERSATION_EVENTS: Final[frozenset[str]] = frozenset(get_args(ConversationEvent))


# --- value types ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Participant:
    """Someone taking part in a conversation (author, reader, typist...)."""

    kind: ParticipantKind
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of an uploaded file; the bytes are fetched from ``url``."""

    id: str
    name: str
    content_type: str
    size: int
    url: str


# --- client -> server ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of a connection: authenticates it."""

    TYPE: ClassVar[str] = "hello"
    #: "" when the console session cookie authenticates the connection.
    token: str
    #: Client name/version, for logs.
    client: str = ""
    #: Staff only: push live inbox ``conversation`` frames.
    inbox: bool = False
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Join:
    """Subscribe to a conversation, replaying history after ``after_seq`` first."""

    TYPE: ClassVar[str] = "join"
    conversation: str
    after_seq: int = 0
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    """Unsubscribe from a conversation."""

    TYPE: ClassVar[str] = "leave"
    conversation: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """Post a message; answered by an ``ack`` (idempotent per ``client_msg_id``)."""

    TYPE: ClassVar[str] = "send"
    conversation: str
    client_msg_id: str
    body: str
    #: Ids of attachments uploaded before.
    attachments: tuple[str, ...] = ()
    #: The seq this message answers.
    in_reply_to: int | None = None
    kind: SendKind = "message"
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    """The client started or stopped typing."""

    TYPE: ClassVar[str] = "typing"
    conversation: str
    active: bool = True
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Read:
    """The client has read the conversation up to and including ``seq``."""

    TYPE: ClassVar[str] = "read"
    conversation: str
    seq: int
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Application-level ping; answered by ``pong`` with the same nonce."""

    TYPE: ClassVar[str] = "ping"
    nonce: int = 0
    ref: str | None = None


# --- server -> client ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Welcome:
    """Answer to a successful ``hello``."""

    TYPE: ClassVar[str] = "welcome"
    session: str
    #: Seconds between server websocket pings.
    heartbeat: float
    #: The effective limits, e.g. {"max_frame_bytes": 65536, ...}.
    limits: dict[str, int]
    identity: Participant
    #: Conversations a scoped token may use; () means not scoped.
    conversations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageFrame:
    """One message of a conversation (history replay or live).

    A message frame whose ``seq`` the client already has replaces that message: this is
    how edits (``edited_at`` set) and deletes (``deleted`` true) reach clients.
    """

    TYPE: ClassVar[str] = "message"
    conversation: str
    seq: int
    kind: MessageKind
    author: Participant
    body: str
    #: Milliseconds since the epoch.
    ts: int
    attachments: tuple[Attachment, ...] = ()
    client_msg_id: str | None = None
    in_reply_to: int | None = None
    #: Event details for kind "event", e.g. {"event": "status_changed", ...}.
    data: dict[str, Any] | None = None
    #: When the body was last edited (ms since the epoch); None when never edited.
    edited_at: int | None = None
    #: The message was deleted: ``body`` is empty and the client drops or greys it out.
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Ack:
    """The message with ``client_msg_id`` is durably stored as ``seq``."""

    TYPE: ClassVar[str] = "ack"
    conversation: str
    client_msg_id: str
    seq: int
    ts: int


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    """History replay after a ``join`` is complete; live messages follow."""

    TYPE: ClassVar[str] = "history_end"
    conversation: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class TypingFrame:
    """Someone else started or stopped typing."""

    TYPE: ClassVar[str] = "typing"
    conversation: str
    author: Participant
    active: bool


@dataclass(frozen=True, slots=True)
class Presence:
    """A participant came online or went offline in a conversation."""

    TYPE: ClassVar[str] = "presence"
    conversation: str
    participant: Participant
    status: PresenceStatus


@dataclass(frozen=True, slots=True)
class Receipt:
    """A participant has read up to and including ``seq``."""

    TYPE: ClassVar[str] = "receipt"
    conversation: str
    reader: Participant
    seq: int


@dataclass(frozen=True, slots=True)
class ConversationFrame:
    """Inbox update for staff sessions that asked for ``inbox``."""

    TYPE: ClassVar[str] = "conversation"
    conversation: str
    event: ConversationEvent
    #: Summary: status, assignee, tags, priority, last_seq, preview, updated_at, ...
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """A frame was rejected; ``code`` is an :class:`~protocol.errors.ErrorCode` value."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    #: The ``ref`` of the client frame that caused it.
    ref: str | None = None

    @classmethod
    def from_exception(cls, exc: ProtocolError, ref: str | None = None) -> ErrorFrame:
        """Build the error frame that answers ``exc`` (``ref`` overrides ``exc.ref``)."""
        return cls(exc.code.value, exc.message[:MAX_ERROR_MESSAGE_CHARS], ref or exc.ref)


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``ping``."""

    TYPE: ClassVar[str] = "pong"
    nonce: int
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Several server frames in one websocket message (never nested)."""

    TYPE: ClassVar[str] = "batch"
    frames: tuple[ServerFrame, ...]


ClientFrame: TypeAlias = Hello | Join | Leave | Send | Typing | Read | Ping
ServerFrame: TypeAlias = (
    Welcome
    | MessageFrame
    | Ack
    | HistoryEnd
    | TypingFrame
    | Presence
    | Receipt
    | ConversationFrame
    | ErrorFrame
    | Pong
    | Batch
)
Frame: TypeAlias = ClientFrame | ServerFrame

#: Client frame classes by wire ``type``.
CLIENT_FRAMES: Final[dict[str, type[Any]]] = {
    cls.TYPE: cls for cls in (Hello, Join, Leave, Send, Typing, Read, Ping)
}
#: Server frame classes by wire ``type``.
SERVER_FRAMES: Final[dict[str, type[Any]]] = {
    cls.TYPE: cls
    for cls in (
        Welcome,
        MessageFrame,
        Ack,
        HistoryEnd,
        TypingFrame,
        Presence,
        Receipt,
        ConversationFrame,
        ErrorFrame,
        Pong,
        Batch,
    )
}
