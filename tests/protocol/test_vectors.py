"""Fixed vectors: exact bytes and strings of a few frames in both codecs."""

from __future__ import annotations

import pytest

from protocol.codec import CODECS, JSON, MSGPACK, SUBPROTOCOLS, select_codec
from protocol.frames import (
    Ack,
    Attachment,
    Batch,
    ErrorFrame,
    Frame,
    Hello,
    HistoryEnd,
    Join,
    MessageFrame,
    Participant,
    Ping,
    Pong,
    Send,
    Typing,
    Welcome,
)
from protocol.wire import frame_from_wire, frame_to_wire

VISITOR = Participant("contact", "v1", "Vi")
ANN = Participant("staff", "u1", "Ann")

# (frame, JSON text, msgpack bytes as hex); the bytes were checked by hand against the
# msgpack spec: fixmap 0x8N, fixstr 0xaN, uint16 0xcd, uint32 0xce, uint64 0xcf, ...
VECTORS: list[tuple[Frame, str, str]] = [
    (
        Ping(7),
        '{"type":"ping","nonce":7}',
        "82 a4 74797065 a4 70696e67 a5 6e6f6e6365 07",
    ),
    (
        Join("c1", after_seq=5),
        '{"type":"join","conversation":"c1","after_seq":5}',
        "83 a4 74797065 a4 6a6f696e ac 636f6e766572736174696f6e a2 6331 a9 61667465725f736571 05",
    ),
    (
        Typing("c1", active=False, ref="r"),
        '{"type":"typing","conversation":"c1","active":false,"ref":"r"}',
        "84 a4 74797065 a6 747970696e67 ac 636f6e766572736174696f6e a2 6331"
        " a6 616374697665 c2 a3 726566 a1 72",
    ),
    (
        Hello(""),
        '{"type":"hello","token":"","client":"","inbox":false}',
        "84 a4 74797065 a5 68656c6c6f a5 746f6b656e a0 a6 636c69656e74 a0 a5 696e626f78 c2",
    ),
    (
        Send("c1", "m1", "héllo ✓", attachments=("a1",), ref="r1"),
        '{"type":"send","conversation":"c1","client_msg_id":"m1","body":"héllo ✓",'
        '"attachments":["a1"],"in_reply_to":null,"kind":"message","ref":"r1"}',
        "88 a4 74797065 a4 73656e64 ac 636f6e766572736174696f6e a2 6331"
        " ad 636c69656e745f6d73675f6964 a2 6d31"
        " a4 626f6479 aa 68 c3a9 6c6c6f 20 e29c93"  # é and ✓ as UTF-8
        " ab 6174746163686d656e7473 91 a2 6131"
        " ab 696e5f7265706c795f746f c0 a4 6b696e64 a7 6d657373616765 a3 726566 a2 7231",
    ),
    (
        Ack("c1", "m1", 42, 1700000000000),
        '{"type":"ack","conversation":"c1","client_msg_id":"m1","seq":42,"ts":1700000000000}',
        "85 a4 74797065 a3 61636b ac 636f6e766572736174696f6e a2 6331"
        " ad 636c69656e745f6d73675f6964 a2 6d31 a3 736571 2a"
        " a2 7473 cf 0000018bcfe56800",
    ),
    (
        HistoryEnd("c1", 300),
        '{"type":"history_end","conversation":"c1","last_seq":300}',
        "83 a4 74797065 ab 686973746f72795f656e64 ac 636f6e766572736174696f6e a2 6331"
        " a8 6c6173745f736571 cd 012c",
    ),
    (
        Welcome("s1", 25.0, {"max_frame_bytes": 65536}, VISITOR, ("c1",)),
        '{"type":"welcome","session":"s1","heartbeat":25.0,"limits":{"max_frame_bytes":65536},'
        '"identity":{"kind":"contact","id":"v1","name":"Vi"},"conversations":["c1"]}',
        "86 a4 74797065 a7 77656c636f6d65 a7 73657373696f6e a2 7331"
        " a9 686561727462656174 cb 4039000000000000"
        " a6 6c696d697473 81 af 6d61785f6672616d655f6279746573 ce 00010000"
        " a8 6964656e74697479 83 a4 6b696e64 a7 636f6e74616374 a2 6964 a2 7631"
        " a4 6e616d65 a2 5669 ad 636f6e766572736174696f6e73 91 a2 6331",
    ),
    (
        ErrorFrame("not_found", "no such conversation", "r2"),
        '{"type":"error","code":"not_found","message":"no such conversation","ref":"r2"}',
        "84 a4 74797065 a5 6572726f72 a4 636f6465 a9 6e6f745f666f756e64"
        " a7 6d657373616765 b4 6e6f2073756368 20 636f6e766572736174696f6e a3 726566 a2 7232",
    ),
    (
        Batch((Pong(1), Pong(2, ref="r"))),
        '{"type":"batch","frames":[{"type":"pong","nonce":1},{"type":"pong","nonce":2,"ref":"r"}]}',
        "82 a4 74797065 a5 6261746368 a6 6672616d6573 92"
        " 82 a4 74797065 a4 706f6e67 a5 6e6f6e6365 01"
        " 83 a4 74797065 a4 706f6e67 a5 6e6f6e6365 02 a3 726566 a1 72",
    ),
]
IDS = [type(frame).__name__ for frame, _, _ in VECTORS]


def is_client(frame: Frame) -> bool:
    return type(frame) in {Hello, Join, Send, Typing, Ping}


@pytest.mark.parametrize(("frame", "text", "hexbytes"), VECTORS, ids=IDS)
def test_json_vector(frame: Frame, text: str, hexbytes: str) -> None:
    assert JSON.encode(frame) == text
    decode = JSON.decode_client if is_client(frame) else JSON.decode_server
    assert decode(text) == frame
    assert decode(text.encode("utf-8")) == frame


@pytest.mark.parametrize(("frame", "text", "hexbytes"), VECTORS, ids=IDS)
def test_msgpack_vector(frame: Frame, text: str, hexbytes: str) -> None:
    data = bytes.fromhex(hexbytes)
    assert MSGPACK.encode(frame) == data
    decode = MSGPACK.decode_client if is_client(frame) else MSGPACK.decode_server
    assert decode(data) == frame
    assert decode(bytearray(data)) == frame


def test_json_keeps_non_ascii_and_is_compact() -> None:
    text = JSON.encode(Send("c1", "m1", "日本語 ✓"))
    assert isinstance(text, str)
    assert "日本語 ✓" in text
    assert " " not in text.replace("日本語 ✓", "")


def test_decode_accepts_any_key_order_whitespace_and_ignores_unknown_keys() -> None:
    text = ' { "future" : {"x": [1]}, "after_seq": 3, "conversation": "c9", "type": "join" } '
    assert JSON.decode_client(text) == Join("c9", after_seq=3)
    data = bytes.fromhex("83 a1 7a c0 a5 6e6f6e6365 09 a4 74797065 a4 70696e67")  # z: nil
    assert MSGPACK.decode_client(data) == Ping(9)


def test_defaults_apply_when_optional_keys_are_missing() -> None:
    send = JSON.decode_client('{"type":"send","conversation":"c","client_msg_id":"m","body":""}')
    assert send == Send("c", "m", "", attachments=(), in_reply_to=None, kind="message")
    assert JSON.decode_client('{"type":"ping","ref":null}') == Ping(0)
    assert JSON.decode_client('{"type":"hello","token":"t"}') == Hello("t", "", False)


def test_message_frame_round_trip_with_everything() -> None:
    frame = MessageFrame(
        "c1",
        7,
        "event",
        ANN,
        "",
        1,
        attachments=(Attachment("a1", "f.png", "image/png", 12, "/files/a1"),),
        client_msg_id="m7",
        in_reply_to=3,
        data={"event": "status_changed", "from": "open", "to": "resolved", "n": [1.5, None]},
    )
    for codec in (JSON, MSGPACK):
        assert codec.decode_server(codec.encode(frame)) == frame
    wire = frame_to_wire(frame)
    assert list(wire)[:2] == ["type", "conversation"]
    assert frame_from_wire(wire, "server") == frame


def test_heartbeat_int_is_read_as_float() -> None:
    text = (
        '{"type":"welcome","session":"s","heartbeat":25,"limits":{},'
        '"identity":{"kind":"staff","id":"u","name":""}}'
    )
    welcome = JSON.decode_server(text)
    assert isinstance(welcome, Welcome)
    assert type(welcome.heartbeat) is float
    assert welcome.heartbeat == 25.0
    assert welcome.conversations == ()


def test_codec_registry_and_negotiation() -> None:
    assert SUBPROTOCOLS == ("switchboard.v1.msgpack", "switchboard.v1.json")
    assert CODECS == {"switchboard.v1.msgpack": MSGPACK, "switchboard.v1.json": JSON}
    assert (JSON.binary, MSGPACK.binary) == (False, True)
    assert select_codec(["switchboard.v1.json", "switchboard.v1.msgpack"]) is MSGPACK
    assert select_codec(["chat", "switchboard.v1.json"]) is JSON
    assert select_codec(["switchboard.v2.json"]) is None
    assert select_codec([]) is None


def test_edited_and_deleted_message_frames() -> None:
    """Edits and deletes travel as message frames for a seq the client already has."""
    edited = MessageFrame("c1", 3, "message", ANN, "fixed", 5, edited_at=9)
    text = JSON.encode(edited)
    assert text == (
        '{"type":"message","conversation":"c1","seq":3,"kind":"message",'
        '"author":{"kind":"staff","id":"u1","name":"Ann"},"body":"fixed","ts":5,'
        '"attachments":[],"client_msg_id":null,"in_reply_to":null,"data":null,'
        '"edited_at":9,"deleted":false}'
    )
    deleted = MessageFrame("c1", 3, "message", ANN, "", 5, deleted=True)
    for codec in (JSON, MSGPACK):
        assert codec.decode_server(codec.encode(edited)) == edited
        assert codec.decode_server(codec.encode(deleted)) == deleted
    # An older peer's frame without the new keys reads as "never edited, not deleted".
    old = (
        '{"type":"message","conversation":"c1","seq":1,"kind":"note","author":'
        '{"kind":"staff","id":"u1","name":"Ann"},"body":"x","ts":1}'
    )
    frame = JSON.decode_server(old)
    assert isinstance(frame, MessageFrame)
    assert (frame.edited_at, frame.deleted) == (None, False)
