"""Frames to wire maps and back, with the full validation of the wire spec.

:func:`frame_to_wire` and :func:`frame_from_wire` work on plain maps (what JSON and
msgpack carry); :mod:`protocol.codec` adds the serialisation and the frame size limit.
The rules for every field live in the tables below, next to nothing else, so that what
a peer may send is readable in one place (docs/protocol.md publishes the same rules).
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal, TypeAlias, overload

from protocol import frames as f
from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from protocol.record import Nested, RecordSpec
from protocol.schema import (
    Bool,
    Choice,
    Int,
    IntMap,
    Invalid,
    JsonMap,
    Kind,
    ListOf,
    Number,
    Optional,
    Str,
    Utf8Bytes,
)

__all__ = [
    "ATTACHMENT_SPEC",
    "PARTICIPANT_SPEC",
    "Direction",
    "frame_from_wire",
    "frame_to_wire",
]

logger = logging.getLogger(__name__)

#: Which side sent the frame: "client" frames go to the server, "server" frames back.
Direction: TypeAlias = Literal["client", "server"]

_MISSING: Final = object()

ID: Final = Str(1, f.MAX_ID_CHARS)
SEQ: Final = Int()
OPTIONAL_REF: Final = Optional(ID)

PARTICIPANT_SPEC: Final = RecordSpec(
    f.Participant,
    {"kind": Choice(f.PARTICIPANT_KINDS), "id": ID, "name": Str(0, f.MAX_NAME_CHARS)},
)
ATTACHMENT_SPEC: Final = RecordSpec(
    f.Attachment,
    {
        "id": ID,
        "name": Str(0, f.MAX_NAME_CHARS),
        "content_type": Str(0, f.MAX_CONTENT_TYPE_CHARS),
        "size": Int(),
        "url": Str(1, f.MAX_URL_CHARS),
    },
)
PARTICIPANT: Final = Nested(PARTICIPANT_SPEC)
BODY: Final = Utf8Bytes(f.MAX_BODY_BYTES)


class _BatchFrames(Kind):
    """``batch.frames``: server frames, each validated, none of them a batch."""

    __slots__ = ()

    def load(self, value: Any) -> Any:
        if type(value) is not list:
            raise Invalid(ErrorCode.BAD_FIELD, "must be a list")
        out = []
        for i, item in enumerate(value):
            try:
                if type(item) is not dict:
                    raise Invalid(ErrorCode.BAD_FIELD, "must be a map")
                out.append(_spec_for(item, _SERVER_SPECS, "server", nested=True).load(item))
            except Invalid as exc:
                raise exc.at(f"[{i}]") from None
        return tuple(out)

    def dump(self, value: Any) -> Any:
        if not isinstance(value, (tuple, list)):
            raise Invalid(ErrorCode.BAD_FIELD, "must be a tuple or list")
        out = []
        for i, frame in enumerate(value):
            spec = _SPECS_BY_CLASS.get(type(frame))
            try:
                if spec is None or spec.type_key not in _SERVER_SPECS:
                    raise Invalid(ErrorCode.BAD_FIELD, "must be a server frame")
                if type(frame) is f.Batch:
                    raise Invalid(ErrorCode.BAD_FIELD, "must not be a nested batch")
                out.append(spec.dump(frame))
            except Invalid as exc:
                raise exc.at(f"[{i}]") from None
        return out


def _client(cls: type[Any], kinds: dict[str, Kind]) -> RecordSpec:
    # Client frames carry an optional ref; when None it is left off the wire.
    kinds["ref"] = OPTIONAL_REF
    return RecordSpec(cls, kinds, type_key=cls.TYPE, omit_none=("ref",))


def _server(cls: type[Any], kinds: dict[str, Kind]) -> RecordSpec:
    return RecordSpec(cls, kinds, type_key=cls.TYPE)


_CLIENT_SPECS: Final[dict[str, RecordSpec]] = {
    spec.cls.TYPE: spec
    for spec in (
        _client(f.Hello, {"token": Str(0, f.MAX_TOKEN_CHARS),
                          "client": Str(0, f.MAX_CLIENT_CHARS), "inbox": Bool()}),
        _client(f.Join, {"conversation": ID, "after_seq": SEQ}),
        _client(f.Leave, {"conversation": ID}),
        _client(f.Send, {
            "conversation": ID,
            "client_msg_id": ID,
            "body": BODY,
            "attachments": ListOf(ID, f.MAX_ATTACHMENTS, ErrorCode.TOO_MANY_ATTACHMENTS),
            "in_reply_to": Optional(SEQ),
            "kind": Choice(f.SEND_KINDS),
        }),
        _client(f.Typing, {"conversation": ID, "active": Bool()}),
        _client(f.Read, {"conversation": ID, "seq": SEQ}),
        _client(f.Ping, {"nonce": Int()}),
    )
}  # fmt: skip

_SERVER_SPECS: Final[dict[str, RecordSpec]] = {
    spec.cls.TYPE: spec
    for spec in (
        _server(f.Welcome, {
            "session": ID,
            "heartbeat": Number(),
            "limits": IntMap(),
            "identity": PARTICIPANT,
            "conversations": ListOf(ID, f.MAX_FRAME_BYTES),  # bounded by the frame size
        }),
        _server(f.MessageFrame, {
            "conversation": ID,
            "seq": SEQ,
            "kind": Choice(f.MESSAGE_KINDS),
            "author": PARTICIPANT,
            "body": BODY,
            "ts": Int(),
            "attachments": ListOf(
                Nested(ATTACHMENT_SPEC), f.MAX_ATTACHMENTS, ErrorCode.TOO_MANY_ATTACHMENTS
            ),
            "client_msg_id": Optional(ID),
            "in_reply_to": Optional(SEQ),
            "data": Optional(JsonMap()),
            "edited_at": Optional(Int()),
            "deleted": Bool(),
        }),
        _server(f.Ack, {"conversation": ID, "client_msg_id": ID, "seq": SEQ, "ts": Int()}),
        _server(f.HistoryEnd, {"conversation": ID, "last_seq": SEQ}),
        _server(f.TypingFrame, {"conversation": ID, "author": PARTICIPANT, "active": Bool()}),
        _server(f.Presence, {
            "conversation": ID,
            "participant": PARTICIPANT,
            "status": Choice(f.PRESENCE_STATUSES),
        }),
        _server(f.Receipt, {"conversation": ID, "reader": PARTICIPANT, "seq": SEQ}),
        _server(f.ConversationFrame, {
            "conversation": ID,
            "event": Choice(f.CONVERSATION_EVENTS),
            "state": JsonMap(),
        }),
        _server(f.ErrorFrame, {
            "code": ID,
            "message": Str(0, f.MAX_ERROR_MESSAGE_CHARS),
            "ref": OPTIONAL_REF,
        }),
        RecordSpec(f.Pong, {"nonce": Int(), "ref": OPTIONAL_REF}, type_key=f.Pong.TYPE,
                   omit_none=("ref",)),
        _server(f.Batch, {"frames": _BatchFrames()}),
    )
}  # fmt: skip

_SPECS_BY_CLASS: Final[dict[type[Any], RecordSpec]] = {
    spec.cls: spec for spec in (*_CLIENT_SPECS.values(), *_SERVER_SPECS.values())
}
_SPECS_BY_DIRECTION: Final[dict[str, dict[str, RecordSpec]]] = {
    "client": _CLIENT_SPECS,
    "server": _SERVER_SPECS,
}

if set(_CLIENT_SPECS) != set(f.CLIENT_FRAMES) or set(_SERVER_SPECS) != set(f.SERVER_FRAMES):
    raise RuntimeError("protocol.wire specs and protocol.frames registries disagree")


def _spec_for(
    wire: dict[str, Any], specs: dict[str, RecordSpec], direction: str, *, nested: bool = False
) -> RecordSpec:
    """Look up the spec of a decoded map by its ``type``."""
    frame_type = wire.get("type", _MISSING)
    if frame_type is _MISSING:
        raise Invalid(ErrorCode.MISSING_FIELD, "is required").at("type")
    if type(frame_type) is not str:
        raise Invalid(ErrorCode.BAD_FIELD, "must be a string").at("type")
    if nested and frame_type == f.Batch.TYPE:
        raise Invalid(ErrorCode.BAD_FIELD, "must not be 'batch' (batches do not nest)").at("type")
    spec = specs.get(frame_type)
    if spec is None:
        shown = frame_type[:64].encode("utf-8", "backslashreplace").decode("utf-8")
        raise Invalid(ErrorCode.UNKNOWN_TYPE, f"{shown!r} is not a {direction} frame type").at(
            "type"
        )
    return spec


def _ref_of(wire: dict[str, Any]) -> str | None:
    """The frame's ``ref`` when it is usable, so an error about the frame can echo it."""
    try:
        ref: str | None = OPTIONAL_REF.load(wire.get("ref"))
    except Invalid:
        return None
    return ref


@overload
def frame_from_wire(wire: Any, direction: Literal["client"]) -> f.ClientFrame: ...
@overload
def frame_from_wire(wire: Any, direction: Literal["server"]) -> f.ServerFrame: ...
def frame_from_wire(wire: Any, direction: Direction) -> f.Frame:
    """Validate a decoded map and build the frame it describes.

    Args:
        wire: The decoded message (anything: it came from the peer).
        direction: "client" to accept client frames (the server decoding), "server" to
            accept server frames (a client decoding).

    Returns:
        The frame dataclass (``ClientFrame`` or ``ServerFrame``).

    Raises:
        RemoteProtocolError: With the code and a message naming the field; ``ref`` is set
            when the map carried a usable ``ref``. Nothing else escapes.
    """
    if type(wire) is not dict:
        raise RemoteProtocolError(ErrorCode.BAD_FRAME, "a frame must be a map")
    specs = _SPECS_BY_DIRECTION[direction]
    try:
        spec = _spec_for(wire, specs, direction)
        frame: f.Frame = spec.load(wire)
        return frame
    except Invalid as exc:
        frame_type = wire.get("type")
        if type(frame_type) is str and frame_type in specs:
            exc.at(frame_type)
        elif exc.path:
            exc.at("frame")
        raise RemoteProtocolError(exc.code, exc.message, _ref_of(wire)) from None
    except Exception as exc:  # a bug in a validator must not kill the connection
        logger.warning("unexpected error validating a %s frame", direction, exc_info=True)
        raise RemoteProtocolError(
            ErrorCode.BAD_FRAME, f"invalid frame ({type(exc).__name__})", _ref_of(wire)
        ) from None


def frame_to_wire(frame: f.Frame) -> dict[str, Any]:
    """Validate a frame and return its wire map (``type`` first, then fields in order).

    ``ref`` of client frames and of ``pong`` is left out when None; every other field
    (``error.ref`` included) is always written.

    Raises:
        LocalProtocolError: ``frame`` is not a frame or breaks a rule (e.g. a body over
            16384 UTF-8 bytes); the message names the field.
    """
    spec = _SPECS_BY_CLASS.get(type(frame))
    if spec is None:
        raise LocalProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"{type(frame).__name__} is not a protocol frame"
        )
    try:
        return spec.dump(frame)
    except Invalid as exc:
        raise LocalProtocolError(exc.code, exc.at(frame.TYPE).message) from None
