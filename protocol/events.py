"""Domain events of the event log, and their JSON payloads.

The event log (an append-only table with a global increasing id) stores each event as
its ``TYPE`` string plus a JSON payload. Consumers (Slack bridge, recipes, webhooks,
mailer, channel bridge, live feed) read them back with :func:`event_from_payload`.
Names are past tense: they record what happened, never what should happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

from protocol import frames as f
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from protocol.frames import Attachment, MessageKind, Participant
from protocol.record import Nested, RecordSpec
from protocol.schema import (
    Choice,
    Int,
    Invalid,
    JsonMap,
    Kind,
    ListOf,
    Optional,
    Str,
    check_json,
)
from protocol.wire import ATTACHMENT_SPEC, BODY, ID, PARTICIPANT, SEQ

__all__ = [
    "EVENT_TYPES",
    "ConversationCreated",
    "ConversationUpdated",
    "DomainEvent",
    "Interaction",
    "MessageDeleted",
    "MessageEdited",
    "MessagePosted",
    "MessageRead",
    "ParticipantJoined",
    "ParticipantLeft",
    "event_from_payload",
    "event_to_payload",
]


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A message (or note, or timeline event) got its ``seq``."""

    TYPE: ClassVar[str] = "message.posted"
    conversation: str
    seq: int
    kind: MessageKind
    author: Participant
    body: str
    attachments: tuple[Attachment, ...]
    client_msg_id: str | None
    in_reply_to: int | None
    #: Milliseconds since the epoch (as every ``ts`` here).
    ts: int
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """A message's body was replaced."""

    TYPE: ClassVar[str] = "message.edited"
    conversation: str
    seq: int
    body: str
    editor: Participant
    ts: int


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """A message was deleted (its seq stays taken)."""

    TYPE: ClassVar[str] = "message.deleted"
    conversation: str
    seq: int
    by: Participant
    ts: int


@dataclass(frozen=True, slots=True)
class ConversationCreated:
    """A conversation group came into existence."""

    TYPE: ClassVar[str] = "conversation.created"
    conversation: str
    #: What it is about (webinar session, email, site), if anything.
    context: str | None
    #: The outside person, if any.
    contact: str | None
    #: Where it came from: "widget", "link" or a custom channel's name.
    channel: str
    ts: int


@dataclass(frozen=True, slots=True)
class ConversationUpdated:
    """Status, assignee, tags, priority or properties changed."""

    TYPE: ClassVar[str] = "conversation.updated"
    conversation: str
    #: Field name -> [old, new].
    changes: dict[str, list[Any]]
    by: Participant
    ts: int
    #: Only when a recipe made the change: recipe, version, run, depth, chain (recipe ids).
    cause: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    """Someone became a participant of the conversation."""

    TYPE: ClassVar[str] = "participant.joined"
    conversation: str
    participant: Participant
    ts: int


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    """Someone stopped being a participant of the conversation."""

    TYPE: ClassVar[str] = "participant.left"
    conversation: str
    participant: Participant
    ts: int


@dataclass(frozen=True, slots=True)
class MessageRead:
    """A participant read up to and including ``seq``."""

    TYPE: ClassVar[str] = "message.read"
    conversation: str
    reader: Participant
    seq: int
    ts: int


@dataclass(frozen=True, slots=True)
class Interaction:
    """A participant interacted beyond messaging (answered a poll, asked a question...)."""

    TYPE: ClassVar[str] = "interaction.recorded"
    conversation: str
    participant: Participant
    #: What kind of interaction: "poll", "question", ... (open set, 1..64 characters).
    kind: str
    payload: dict[str, Any]
    ts: int


DomainEvent: TypeAlias = (
    MessagePosted
    | MessageEdited
    | MessageDeleted
    | ConversationCreated
    | ConversationUpdated
    | ParticipantJoined
    | ParticipantLeft
    | MessageRead
    | Interaction
)


class _Changes(Kind):
    """``conversation.updated`` changes: field name -> [old, new] (JSON values)."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        if type(value) is not dict:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        return self._check(value)

    def dump(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
        return self._check(value)

    @staticmethod
    def _check(value: dict[Any, Any]) -> dict[str, list[Any]]:
        out = {}
        for name, pair in value.items():
            if type(name) is not str:
                raise Invalid(ErrorCode.BAD_FIELD, "has a key that is not a string")
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise Invalid(ErrorCode.BAD_FIELD, "must be a list [old, new]").at(name)
            try:
                check_json(pair)
            except Invalid as exc:
                raise exc.at(name) from None
            out[name] = list(pair)
        return out


_TS: Final = Int()
_OPTIONAL_ID: Final = Optional(ID)

_SPECS: Final[dict[str, RecordSpec]] = {
    spec.cls.TYPE: spec
    for spec in (
        RecordSpec(MessagePosted, {
            "conversation": ID,
            "seq": SEQ,
            "kind": Choice(f.MESSAGE_KINDS),
            "author": PARTICIPANT,
            "body": BODY,
            "attachments": ListOf(Nested(ATTACHMENT_SPEC), f.MAX_ATTACHMENTS,
                                  ErrorCode.TOO_MANY_ATTACHMENTS),
            "client_msg_id": _OPTIONAL_ID,
            "in_reply_to": Optional(SEQ),
            "ts": _TS,
            "data": Optional(JsonMap()),
        }),
        RecordSpec(MessageEdited, {
            "conversation": ID, "seq": SEQ, "body": BODY, "editor": PARTICIPANT, "ts": _TS,
        }),
        RecordSpec(MessageDeleted, {"conversation": ID, "seq": SEQ, "by": PARTICIPANT, "ts": _TS}),
        RecordSpec(ConversationCreated, {
            "conversation": ID,
            "context": _OPTIONAL_ID,
            "contact": _OPTIONAL_ID,
            "channel": ID,
            "ts": _TS,
        }),
        RecordSpec(ConversationUpdated, {
            "conversation": ID, "changes": _Changes(), "by": PARTICIPANT, "ts": _TS,
            "cause": Optional(JsonMap()),
        }, omit_none=("cause",)),
        RecordSpec(ParticipantJoined, {"conversation": ID, "participant": PARTICIPANT, "ts": _TS}),
        RecordSpec(ParticipantLeft, {"conversation": ID, "participant": PARTICIPANT, "ts": _TS}),
        RecordSpec(MessageRead, {
            "conversation": ID, "reader": PARTICIPANT, "seq": SEQ, "ts": _TS,
        }),
        RecordSpec(Interaction, {
            "conversation": ID,
            "participant": PARTICIPANT,
            "kind": Str(1, f.MAX_ID_CHARS),
            "payload": JsonMap(),
            "ts": _TS,
        }),
    )
}  # fmt: skip

#: Event classes by their ``TYPE`` (the event log's type column).
EVENT_TYPES: Final[dict[str, type[Any]]] = {t: spec.cls for t, spec in _SPECS.items()}


def event_to_payload(event: DomainEvent) -> dict[str, Any]:
    """Return the JSON-safe payload of an event (every field; the type is stored apart).

    Raises:
        LocalProtocolError: ``event`` is not a domain event or a field breaks its rule.
    """
    spec = _SPECS.get(getattr(type(event), "TYPE", ""))
    if spec is None or type(event) is not spec.cls:
        raise LocalProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"{type(event).__name__} is not a domain event"
        )
    try:
        return spec.dump(event)
    except Invalid as exc:
        raise LocalProtocolError(exc.code, exc.at(spec.cls.TYPE).message) from None


def event_from_payload(type: str, payload: Any) -> DomainEvent:
    """Rebuild an event from its type and payload (as read back from the event log).

    Unknown payload keys are ignored, so an older reader can read a newer log.

    Raises:
        RemoteProtocolError: Unknown ``type`` (``unknown_type``), missing field
            (``missing_field``) or a bad value (``bad_field``), with the field named.
    """
    spec = _SPECS.get(type)
    if spec is None:
        raise RemoteProtocolError(ErrorCode.UNKNOWN_TYPE, f"{type!r} is not an event type")
    if not isinstance(payload, dict):
        raise RemoteProtocolError(ErrorCode.BAD_FRAME, f"{type} payload must be a map")
    try:
        return spec.load(payload)  # type: ignore[no-any-return]
    except Invalid as exc:
        raise RemoteProtocolError(exc.code, exc.at(type).message) from None
