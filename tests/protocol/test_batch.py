"""encode_batch and coalesce: fan-out by concatenating already encoded frames."""

from __future__ import annotations

import itertools

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import JSON, MSGPACK, Codec, wire_size
from protocol.errors import ErrorCode, LocalProtocolError
from protocol.frames import MAX_FRAME_BYTES, Batch, MessageFrame, Participant, Pong, ServerFrame

CODECS = [JSON, MSGPACK]
CODEC_IDS = ["json", "msgpack"]
ANN = Participant("staff", "u1", "Änn")


def frames(count: int) -> list[ServerFrame]:
    out: list[ServerFrame] = []
    for i in range(count):
        if i % 3:
            out.append(Pong(i))
        else:
            out.append(MessageFrame("c1", i, "message", ANN, f"message ✓ {i}", 1_700_000_000_000))
    return out


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("count", [0, 1, 2, 15, 16, 300])
def test_encode_batch_decodes_to_the_same_frames(codec: Codec, count: int) -> None:
    members = frames(count)
    data = codec.encode_batch([codec.encode(frame) for frame in members])
    assert codec.decode_server(data) == Batch(tuple(members))
    # Byte-identical to encoding the Batch the slow way.
    assert data == codec.encode(Batch(tuple(members)))


@pytest.mark.parametrize(
    ("count", "header"),
    [(0, "90"), (1, "91"), (15, "9f"), (16, "dc0010"), (300, "dc012c"), (65535, "dcffff")],
)
def test_msgpack_array_headers(count: int, header: str) -> None:
    members = [b"\xc0"] * count  # nil members: only the header is under test here
    data = MSGPACK.encode_batch(members, max_bytes=10**6)
    assert isinstance(data, bytes)
    prefix = b"\x82\xa4type\xa5batch\xa6frames"
    assert data.startswith(prefix + bytes.fromhex(header))
    assert data == msgpack.packb({"type": "batch", "frames": [None] * count})


def test_msgpack_array32_header() -> None:
    count = 70_000
    data = MSGPACK.encode_batch([b"\xc0"] * count, max_bytes=10**6)
    assert isinstance(data, bytes)
    assert data[19:24] == b"\xdd\x00\x01\x11\x70"
    assert msgpack.unpackb(data) == {"type": "batch", "frames": [None] * count}


def test_batch_over_the_frame_limit_is_refused() -> None:
    big = MSGPACK.encode(MessageFrame("c", 1, "message", ANN, "x" * 16_000, 1))
    with pytest.raises(LocalProtocolError) as info:
        MSGPACK.encode_batch([big] * 5)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


@pytest.mark.parametrize(
    ("codec", "member"), [(JSON, b'{"type":"pong","nonce":1}'), (MSGPACK, '{"type":"pong"}')]
)
def test_batch_members_must_match_the_codec(codec: Codec, member: bytes | str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        codec.encode_batch([codec.encode(Pong(1)), member])
    assert info.value.code is ErrorCode.BAD_FIELD


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_coalesce_trivial_cases(codec: Codec) -> None:
    assert codec.coalesce([]) == []
    one = codec.encode(Pong(1))
    assert codec.coalesce([one]) == [one]  # a lone frame is not wrapped
    two = codec.encode(Pong(2))
    assert codec.coalesce([one, two]) == [codec.encode_batch([one, two])]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_coalesce_splits_at_the_frame_limit(codec: Codec) -> None:
    members = [MessageFrame("c", i, "message", ANN, "é" * 8000, i) for i in range(20)]
    out = codec.coalesce([codec.encode(m) for m in members])
    assert len(out) > 1
    assert all(wire_size(data) <= MAX_FRAME_BYTES for data in out)
    decoded: list[ServerFrame] = []
    for data in out:
        frame = codec.decode_server(data)
        decoded.extend(frame.frames if isinstance(frame, Batch) else [frame])
    assert decoded == members


@settings(max_examples=200, deadline=None)
@given(
    codec=st.sampled_from(CODECS),
    bodies=st.lists(st.text(max_size=120), max_size=30),
    max_bytes=st.integers(min_value=60, max_value=3000),
)
def test_coalesce_is_ordered_bounded_and_greedy(
    codec: Codec, bodies: list[str], max_bytes: int
) -> None:
    members = [MessageFrame("c", i, "message", ANN, body, i) for i, body in enumerate(bodies)]
    encoded = [codec.encode(m) for m in members]
    out = codec.coalesce(encoded, max_bytes=max_bytes)
    decoded: list[ServerFrame] = []
    groups: list[list[bytes | str]] = []
    position = 0
    for data in out:
        frame = codec.decode_server(data)
        group = list(frame.frames) if isinstance(frame, Batch) else [frame]
        decoded.extend(group)
        groups.append(encoded[position : position + len(group)])
        position += len(group)
        if isinstance(frame, Batch):
            assert wire_size(data) <= max_bytes
            assert len(group) >= 2
    assert decoded == members
    # Greedy: the next frame would not have fitted into the previous message.
    for previous, following in itertools.pairwise(groups):
        merged = codec.encode_batch([*previous, following[0]], max_bytes=10**9)
        assert wire_size(merged) > max_bytes
