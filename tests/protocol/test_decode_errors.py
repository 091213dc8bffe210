"""Every error code decoding can produce, with the exact field named in the message."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from protocol.codec import JSON, MSGPACK, Codec
from protocol.errors import ErrorCode, RemoteProtocolError
from protocol.frames import MAX_BODY_BYTES, MAX_FRAME_BYTES, Send

E = ErrorCode
PARTICIPANT = {"kind": "staff", "id": "u1", "name": "Ann"}
ATTACHMENT = {"id": "a1", "name": "f", "content_type": "text/plain", "size": 1, "url": "/a"}
MESSAGE = {
    "type": "message",
    "conversation": "c1",
    "seq": 1,
    "kind": "message",
    "author": PARTICIPANT,
    "body": "hi",
    "ts": 5,
}


def send(**changes: Any) -> dict[str, Any]:
    frame = {"type": "send", "conversation": "c1", "client_msg_id": "m1", "body": "hi"}
    frame.update(changes)
    return frame


def message(**changes: Any) -> dict[str, Any]:
    return {**MESSAGE, **changes}


# (id, direction, decoded map, expected code, expected message)
MAP_CASES: list[tuple[str, str, Any, ErrorCode, str]] = [
    ("list", "client", [1, 2], E.BAD_FRAME, "a frame must be a map"),
    ("int", "client", 5, E.BAD_FRAME, "a frame must be a map"),
    ("no-type", "client", {"conversation": "c1"}, E.MISSING_FIELD, "frame.type is required"),
    ("type-int", "client", {"type": 1}, E.BAD_FIELD, "frame.type must be a string"),
    ("unknown", "client", {"type": "shout"}, E.UNKNOWN_TYPE,
     "frame.type 'shout' is not a client frame type"),
    ("wrong-direction", "client", {"type": "welcome"}, E.UNKNOWN_TYPE,
     "frame.type 'welcome' is not a client frame type"),
    ("server-wrong-direction", "server", {"type": "send"}, E.UNKNOWN_TYPE,
     "frame.type 'send' is not a server frame type"),
    ("missing", "client", {"type": "send", "conversation": "c1", "body": ""}, E.MISSING_FIELD,
     "send.client_msg_id is required"),
    ("body-int", "client", send(body=5), E.BAD_FIELD, "send.body must be a string"),
    ("body-null", "client", send(body=None), E.BAD_FIELD, "send.body must be a string"),
    ("bool-as-int", "client", {"type": "join", "conversation": "c1", "after_seq": True},
     E.BAD_FIELD, "join.after_seq must be an integer"),
    ("float-as-int", "client", {"type": "read", "conversation": "c1", "seq": 1.0},
     E.BAD_FIELD, "read.seq must be an integer"),
    ("negative-seq", "client", {"type": "read", "conversation": "c1", "seq": -1},
     E.BAD_FIELD, "read.seq must be between 0 and 9223372036854775807"),
    ("int-as-bool", "client", {"type": "typing", "conversation": "c1", "active": 1},
     E.BAD_FIELD, "typing.active must be a boolean"),
    ("empty-id", "client", {"type": "leave", "conversation": ""}, E.BAD_FIELD,
     "leave.conversation must be 1..64 characters long (got 0)"),
    ("long-id", "client", {"type": "leave", "conversation": "c" * 65}, E.BAD_FIELD,
     "leave.conversation must be 1..64 characters long (got 65)"),
    ("long-ref", "client", {"type": "ping", "ref": "r" * 65}, E.BAD_FIELD,
     "ping.ref must be 1..64 characters long (got 65)"),
    ("long-client", "client", {"type": "hello", "token": "", "client": "x" * 65}, E.BAD_FIELD,
     "hello.client must be 0..64 characters long (got 65)"),
    ("bad-kind", "client", send(kind="event"), E.BAD_FIELD,
     "send.kind must be one of 'message', 'note'"),
    ("attachments-not-list", "client", send(attachments="a1"), E.BAD_FIELD,
     "send.attachments must be a list"),
    ("attachment-id-int", "client", send(attachments=["a1", 2]), E.BAD_FIELD,
     "send.attachments[1] must be a string"),
    ("too-many-attachments", "client", send(attachments=[f"a{i}" for i in range(11)]),
     E.TOO_MANY_ATTACHMENTS, "send.attachments must have at most 10 items"),
    ("body-too-large", "client", send(body="x" * (MAX_BODY_BYTES + 1)), E.BODY_TOO_LARGE,
     "send.body must be at most 16384 bytes of UTF-8 (got 16385 or more)"),
    # 5462 three-byte characters: few enough characters, too many bytes.
    ("body-too-large-utf8", "client", send(body="✓" * 5462), E.BODY_TOO_LARGE,
     "send.body must be at most 16384 bytes of UTF-8 (got 16386 or more)"),
    ("lone-surrogate", "client", send(body="\ud800"), E.BAD_FIELD,
     "send.body must be valid Unicode text"),
    ("nested-participant", "server", message(author={**PARTICIPANT, "kind": "robot"}),
     E.BAD_FIELD, "message.author.kind must be one of 'bot', 'contact', 'staff', 'system'"),
    ("participant-not-map", "server", message(author="Ann"), E.BAD_FIELD,
     "message.author must be a map"),
    ("nested-missing", "server", message(author={"kind": "staff", "id": "u1"}),
     E.MISSING_FIELD, "message.author.name is required"),
    ("attachment-size-bool", "server", message(attachments=[{**ATTACHMENT, "size": False}]),
     E.BAD_FIELD, "message.attachments[0].size must be an integer"),
    ("message-too-many-attachments", "server", message(attachments=[ATTACHMENT] * 11),
     E.TOO_MANY_ATTACHMENTS, "message.attachments must have at most 10 items"),
    ("data-not-map", "server", message(data=[1]), E.BAD_FIELD, "message.data must be a map"),
    ("heartbeat-bool", "server", {"type": "welcome", "session": "s", "heartbeat": True,
     "limits": {}, "identity": PARTICIPANT}, E.BAD_FIELD, "welcome.heartbeat must be a number"),
    ("limits-value", "server", {"type": "welcome", "session": "s", "heartbeat": 1,
     "limits": {"max": "x"}, "identity": PARTICIPANT}, E.BAD_FIELD,
     "welcome.limits.max must be an integer"),
    ("presence-status", "server", {"type": "presence", "conversation": "c", "participant":
     PARTICIPANT, "status": "away"}, E.BAD_FIELD,
     "presence.status must be one of 'offline', 'online'"),
    ("nested-batch", "server", {"type": "batch", "frames": [{"type": "pong", "nonce": 1},
     {"type": "batch", "frames": []}]}, E.BAD_FIELD,
     "batch.frames[1].type must not be 'batch' (batches do not nest)"),
    ("batch-member-not-map", "server", {"type": "batch", "frames": ["pong"]}, E.BAD_FIELD,
     "batch.frames[0] must be a map"),
    ("batch-member-unknown", "server", {"type": "batch", "frames": [{"type": "join"}]},
     E.UNKNOWN_TYPE, "batch.frames[0].type 'join' is not a server frame type"),
    ("batch-member-invalid", "server", {"type": "batch", "frames": [message(seq="1")]},
     E.BAD_FIELD, "batch.frames[0].seq must be an integer"),
    ("batch-member-body", "server", {"type": "batch", "frames": [message(body="é" * 8193)]},
     E.BODY_TOO_LARGE, "batch.frames[0].body must be at most 16384 bytes of UTF-8 "
     "(got 16386 or more)"),
    ("batch-frames-missing", "server", {"type": "batch"}, E.MISSING_FIELD,
     "batch.frames is required"),
]  # fmt: skip

# Codes that only the server's session logic produces, never the decoder.
NOT_FROM_DECODE = {
    E.HELLO_REQUIRED,
    E.ALREADY_AUTHENTICATED,
    E.UNAUTHORIZED,
    E.TOKEN_EXPIRED,
    E.FORBIDDEN,
    E.NOT_FOUND,
    E.NOT_JOINED,
    E.RATE_LIMITED,
    E.UNAVAILABLE,
    E.INTERNAL,
}


def decode(codec: Codec, direction: str, data: bytes | str) -> Any:
    return codec.decode_client(data) if direction == "client" else codec.decode_server(data)


def map_params() -> list[Any]:
    params = []
    for name, direction, wire, code, message in MAP_CASES:
        for codec in (JSON, MSGPACK):
            if codec is MSGPACK and name == "lone-surrogate":
                continue  # msgpack strings are UTF-8 and cannot carry a lone surrogate
            params.append(
                pytest.param(
                    codec,
                    direction,
                    wire,
                    code,
                    message,
                    id=f"{'msgpack' if codec.binary else 'json'}-{name}",
                )
            )
    return params


@pytest.mark.parametrize(("codec", "direction", "wire", "code", "message"), map_params())
def test_invalid_map(
    codec: Codec, direction: str, wire: Any, code: ErrorCode, message: str
) -> None:
    if codec is JSON:
        data: bytes | str = json.dumps(wire, ensure_ascii=True)  # escapes keep surrogates
    else:
        data = msgpack.packb(wire, use_bin_type=True)
    with pytest.raises(RemoteProtocolError) as info:
        decode(codec, direction, data)
    assert info.value.code is code
    assert info.value.message == message


def test_every_decode_code_is_covered() -> None:
    covered = {case[3] for case in MAP_CASES} | {E.FRAME_TOO_LARGE}  # size: tests below
    assert covered == set(ErrorCode) - NOT_FROM_DECODE


@pytest.mark.parametrize(
    ("codec", "data", "detail"),
    [
        (JSON, "{", "not a valid switchboard.v1.json frame"),
        (JSON, '{"type":"ping"} x', "not a valid switchboard.v1.json frame"),
        (JSON, '{"type":"ping","nonce":NaN}', "NaN is not valid JSON"),
        (JSON, '{"type":"ping","nonce":Infinity}', "Infinity is not valid JSON"),
        (JSON, b'{"type":"ping","x":"\xff"}', "a frame must be UTF-8"),
        (JSON, "", "not a valid switchboard.v1.json frame"),
        (JSON, "[" * 100_00 + "]" * 100_00, "not a valid switchboard.v1.json frame"),
        (MSGPACK, b"", "not a valid switchboard.v1.msgpack frame"),
        (MSGPACK, b"\xc1", "not a valid switchboard.v1.msgpack frame"),
        (MSGPACK, b"\x81\xa4type", "not a valid switchboard.v1.msgpack frame"),
        (MSGPACK, b"\x80\x80", "not a valid switchboard.v1.msgpack frame"),  # extra data
        (MSGPACK, b"\x81\xa1\xff\x00", "not a valid switchboard.v1.msgpack frame"),  # bad UTF-8
        (MSGPACK, b"\x91" * 3000 + b"\xc0", "not a valid switchboard.v1.msgpack frame"),
        (MSGPACK, '{"type":"ping"}', "frames must be binary messages"),
        (MSGPACK, b"\x90", "a frame must be a map"),
        (JSON, "3", "a frame must be a map"),
    ],
)
def test_undecodable_is_bad_frame(codec: Codec, data: bytes | str, detail: str) -> None:
    for direction in ("client", "server"):
        with pytest.raises(RemoteProtocolError) as info:
            decode(codec, direction, data)
        assert info.value.code is E.BAD_FRAME
        assert detail in info.value.message


def test_non_payload_type_is_bad_frame() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_client(None)  # type: ignore[arg-type]
    assert info.value.code is E.BAD_FRAME


def test_frame_size_is_checked_first_json() -> None:
    garbage = "x" * (MAX_FRAME_BYTES + 1)  # not JSON either: the size must win
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_client(garbage)
    assert info.value.code is E.FRAME_TOO_LARGE
    assert info.value.message == "frame is 65537 bytes, more than the limit of 65536"
    assert info.value.close_code == 1009
    # Fewer characters than the limit, more UTF-8 bytes than the limit.
    wide = '{"type":"ping","x":"' + "€" * 21_840 + '"}'
    assert len(wide) < MAX_FRAME_BYTES < len(wide.encode())
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_client(wide)
    assert info.value.code is E.FRAME_TOO_LARGE


def test_frame_size_is_checked_first_msgpack() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        MSGPACK.decode_server(b"\xc1" * (MAX_FRAME_BYTES + 1))
    assert info.value.code is E.FRAME_TOO_LARGE


def test_frame_at_exactly_the_limit_is_accepted() -> None:
    head = '{"type":"ping","nonce":1,"pad":"'
    text = head + "x" * (MAX_FRAME_BYTES - len(head) - 2) + '"}'
    assert len(text) == MAX_FRAME_BYTES
    assert JSON.decode_client(text) is not None
    packed = msgpack.packb({"type": "ping", "pad": b""}, use_bin_type=True)
    pad = MAX_FRAME_BYTES - len(packed) - 1  # a bin16 header is 1 byte longer than bin8
    data = msgpack.packb({"type": "ping", "pad": b"x" * pad}, use_bin_type=True)
    assert len(data) == MAX_FRAME_BYTES
    assert MSGPACK.decode_client(data) is not None


def test_body_limit_counts_utf8_bytes() -> None:
    exactly = "✓" * (MAX_BODY_BYTES // 3) + "x" * (MAX_BODY_BYTES % 3)
    assert len(exactly.encode()) == MAX_BODY_BYTES
    for codec in (JSON, MSGPACK):
        frame = codec.decode_client(codec.encode(Send("c", "m", exactly)))
        assert isinstance(frame, Send)
        assert frame.body == exactly


def test_error_carries_the_frames_ref() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_client(json.dumps(send(body=1, ref="r42")))
    assert info.value.ref == "r42"
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_client('{"type":"nope","ref":"r43"}')
    assert (info.value.code, info.value.ref) == (E.UNKNOWN_TYPE, "r43")
    with pytest.raises(RemoteProtocolError) as info:  # an unusable ref is not echoed
        JSON.decode_client(json.dumps(send(body=1, ref="r" * 65)))
    assert info.value.ref is None


def test_unusual_json_values_in_data_are_rejected() -> None:
    huge = message(data={"n": 2**70})
    with pytest.raises(RemoteProtocolError) as info:
        JSON.decode_server(json.dumps(huge))
    assert info.value.message == "message.data contains an integer outside 64 bits"
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(RemoteProtocolError) as info:
        MSGPACK.decode_server(msgpack.packb(message(data={"d": deep})))
    assert info.value.message == "message.data nests deeper than 32 levels"
    with pytest.raises(RemoteProtocolError) as info:
        MSGPACK.decode_server(msgpack.packb(message(data={"b": b"\x00"}), use_bin_type=True))
    assert info.value.message == "message.data contains a bytes, which is not JSON"
    with pytest.raises(RemoteProtocolError) as info:
        MSGPACK.decode_server(msgpack.packb(message(data={"t": msgpack.ExtType(1, b"")})))
    assert info.value.code is E.BAD_FIELD
