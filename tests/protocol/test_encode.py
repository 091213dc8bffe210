"""Encoding validates too: a bad frame of ours is a LocalProtocolError, never bad bytes."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import pytest

from protocol.codec import JSON, MSGPACK, Codec
from protocol.errors import ErrorCode, LocalProtocolError
from protocol.frames import (
    MAX_BODY_BYTES,
    Attachment,
    Batch,
    ConversationFrame,
    ErrorFrame,
    Join,
    MessageFrame,
    Participant,
    Pong,
    Read,
    Send,
    Welcome,
)
from protocol.wire import frame_to_wire

E = ErrorCode
ANN = Participant("staff", "u1", "Ann")
ATTACHMENT = Attachment("a1", "f.txt", "text/plain", 3, "/files/a1")


def message(**changes: Any) -> MessageFrame:
    fields: dict[str, Any] = {
        "conversation": "c1", "seq": 1, "kind": "message", "author": ANN, "body": "hi", "ts": 1,
    }  # fmt: skip
    fields.update(changes)
    return MessageFrame(**fields)


CASES: list[tuple[str, Any, ErrorCode, str]] = [
    ("body", Send("c1", "m1", "x" * (MAX_BODY_BYTES + 1)), E.BODY_TOO_LARGE,
     "send.body must be at most 16384 bytes of UTF-8 (got 16385 or more)"),
    ("body-utf8", message(body="€" * 5462), E.BODY_TOO_LARGE,
     "message.body must be at most 16384 bytes of UTF-8 (got 16386 or more)"),
    ("attachments", Send("c1", "m1", "", attachments=("a",) * 11), E.TOO_MANY_ATTACHMENTS,
     "send.attachments must have at most 10 items"),
    ("attachments-list", message(attachments=[ATTACHMENT] * 11), E.TOO_MANY_ATTACHMENTS,
     "message.attachments must have at most 10 items"),
    ("kind", Send("c1", "m1", "", kind="event"), E.BAD_FIELD,  # type: ignore[arg-type]
     "send.kind must be one of 'message', 'note'"),
    ("seq-bool", Read("c1", True), E.BAD_FIELD, "read.seq must be an integer"),
    ("seq-negative", Read("c1", -3), E.BAD_FIELD,
     "read.seq must be between 0 and 9223372036854775807"),
    ("empty-id", Join(""), E.BAD_FIELD, "join.conversation must be 1..64 characters long (got 0)"),
    ("ref", Join("c", ref=""), E.BAD_FIELD, "join.ref must be 1..64 characters long (got 0)"),
    ("author-dict", message(author={"kind": "staff", "id": "u", "name": "A"}), E.BAD_FIELD,
     "message.author must be a Participant"),
    ("author-kind", message(author=Participant("god", "u", "A")), E.BAD_FIELD,  # type: ignore[arg-type]
     "message.author.kind must be one of 'bot', 'contact', 'staff', 'system'"),
    ("data-nan", message(data={"x": float("nan")}), E.BAD_FIELD,
     "message.data contains a number that is not finite"),
    ("data-set", message(data={"x": {1}}), E.BAD_FIELD,
     "message.data contains a set, which is not JSON"),
    ("data-key", message(data={1: "x"}), E.BAD_FIELD,
     "message.data has a map key that is not a string"),
    ("state", ConversationFrame("c1", "created", None), E.BAD_FIELD,  # type: ignore[arg-type]
     "conversation.state must be a map"),
    ("surrogate", Send("c1", "m1", "\udc80"), E.BAD_FIELD, "send.body must be valid Unicode text"),
    ("nested-batch", Batch((Pong(1), Batch(()))), E.BAD_FIELD,
     "batch.frames[1] must not be a nested batch"),
    ("client-in-batch", Batch((Join("c1"),)), E.BAD_FIELD,  # type: ignore[arg-type]
     "batch.frames[0] must be a server frame"),
    ("not-a-frame", Participant("staff", "u", "A"), E.UNKNOWN_TYPE,
     "Participant is not a protocol frame"),
    ("too-large", message(data={"pad": "x" * 70_000}), E.FRAME_TOO_LARGE,
     "frame is 70"),
]  # fmt: skip


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
@pytest.mark.parametrize(
    ("frame", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_frame_is_local_error(
    codec: Codec, frame: Any, code: ErrorCode, message: str
) -> None:
    with pytest.raises(LocalProtocolError) as info:
        codec.encode(frame)
    assert info.value.code is code
    assert info.value.message.startswith(message)
    assert info.value.message == message or code is E.FRAME_TOO_LARGE


def test_enum_values_are_written_as_plain_values() -> None:
    class Seq(IntEnum):
        FIVE = 5

    frame = ErrorFrame(ErrorCode.NOT_JOINED, "join first")
    assert (
        JSON.encode(frame)
        == '{"type":"error","code":"not_joined","message":"join first","ref":null}'
    )
    assert type(frame_to_wire(frame)["code"]) is str
    assert JSON.encode(Read("c", Seq.FIVE)) == '{"type":"read","conversation":"c","seq":5}'
    assert JSON.decode_server(JSON.encode(frame)) == frame


def test_welcome_accepts_int_heartbeat_and_list_sequences() -> None:
    welcome = Welcome("s", 25, {}, ANN, ["c1"])  # type: ignore[arg-type]
    assert frame_to_wire(welcome)["heartbeat"] == 25.0
    decoded = MSGPACK.decode_server(MSGPACK.encode(welcome))
    assert decoded == Welcome("s", 25.0, {}, ANN, ("c1",))
