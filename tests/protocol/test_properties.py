"""Hypothesis properties: every frame round-trips; arbitrary input decodes or raises
RemoteProtocolError, nothing else."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import frames as f
from protocol.codec import JSON, MSGPACK, Codec
from protocol.errors import RemoteProtocolError
from protocol.wire import frame_from_wire, frame_to_wire

CODECS = [JSON, MSGPACK]
CODEC_IDS = ["json", "msgpack"]
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Recursive wild values are costly to generate; fewer examples keep the suite fast.
WILD = settings(FAST, max_examples=100)

# --- strategies for valid frames (independent of protocol/wire.py's tables) ----------
ids = st.text(min_size=1, max_size=f.MAX_ID_CHARS)
refs = st.none() | ids
seqs = st.integers(0, f.MAX_INT)
names = st.text(max_size=40)
bodies = st.text(max_size=200) | st.sampled_from(["", "✓" * 5461, "x" * f.MAX_BODY_BYTES])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_maps = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
participants = st.builds(
    f.Participant, kind=st.sampled_from(sorted(f.PARTICIPANT_KINDS)), id=ids, name=names
)
attachments = st.builds(
    f.Attachment,
    id=ids,
    name=names,
    content_type=st.text(max_size=30),
    size=seqs,
    url=st.text(min_size=1, max_size=80),
)

CLIENT_STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    f.Hello: st.builds(f.Hello, token=st.text(max_size=300), client=st.text(max_size=64),
                       inbox=st.booleans(), ref=refs),
    f.Join: st.builds(f.Join, conversation=ids, after_seq=seqs, ref=refs),
    f.Leave: st.builds(f.Leave, conversation=ids, ref=refs),
    f.Send: st.builds(
        f.Send, conversation=ids, client_msg_id=ids, body=bodies,
        attachments=st.lists(ids, max_size=f.MAX_ATTACHMENTS).map(tuple),
        in_reply_to=st.none() | seqs, kind=st.sampled_from(sorted(f.SEND_KINDS)), ref=refs,
    ),
    f.Typing: st.builds(f.Typing, conversation=ids, active=st.booleans(), ref=refs),
    f.Read: st.builds(f.Read, conversation=ids, seq=seqs, ref=refs),
    f.Ping: st.builds(f.Ping, nonce=seqs, ref=refs),
}  # fmt: skip
SERVER_STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    f.Welcome: st.builds(
        f.Welcome, session=ids, heartbeat=st.floats(0, 1e6), limits=st.dictionaries(
            st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), max_size=5),
        identity=participants, conversations=st.lists(ids, max_size=10).map(tuple),
    ),
    f.MessageFrame: st.builds(
        f.MessageFrame, conversation=ids, seq=seqs,
        kind=st.sampled_from(sorted(f.MESSAGE_KINDS)), author=participants,
        body=st.text(max_size=200), ts=seqs,
        attachments=st.lists(attachments, max_size=f.MAX_ATTACHMENTS).map(tuple),
        client_msg_id=st.none() | ids, in_reply_to=st.none() | seqs,
        data=st.none() | json_maps, edited_at=st.none() | seqs, deleted=st.booleans(),
    ),
    f.Ack: st.builds(f.Ack, conversation=ids, client_msg_id=ids, seq=seqs, ts=seqs),
    f.HistoryEnd: st.builds(f.HistoryEnd, conversation=ids, last_seq=seqs),
    f.TypingFrame: st.builds(f.TypingFrame, conversation=ids, author=participants,
                             active=st.booleans()),
    f.Presence: st.builds(f.Presence, conversation=ids, participant=participants,
                          status=st.sampled_from(sorted(f.PRESENCE_STATUSES))),
    f.Receipt: st.builds(f.Receipt, conversation=ids, reader=participants, seq=seqs),
    f.ConversationFrame: st.builds(
        f.ConversationFrame, conversation=ids,
        event=st.sampled_from(sorted(f.CONVERSATION_EVENTS)), state=json_maps,
    ),
    f.ErrorFrame: st.builds(f.ErrorFrame, code=ids, message=st.text(max_size=200), ref=refs),
    f.Pong: st.builds(f.Pong, nonce=seqs, ref=refs),
}  # fmt: skip
SERVER_STRATEGIES[f.Batch] = st.builds(
    f.Batch, frames=st.lists(st.one_of(*SERVER_STRATEGIES.values()), max_size=4).map(tuple)
)
ALL_STRATEGIES = {**CLIENT_STRATEGIES, **SERVER_STRATEGIES}


def test_a_strategy_for_every_frame_type() -> None:
    assert set(CLIENT_STRATEGIES) == set(f.CLIENT_FRAMES.values())
    assert set(SERVER_STRATEGIES) == set(f.SERVER_FRAMES.values())


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("cls", list(ALL_STRATEGIES), ids=lambda c: c.TYPE + "-" + c.__name__)
def test_round_trip(codec: Codec, cls: type[Any]) -> None:
    client = cls in CLIENT_STRATEGIES
    decode = codec.decode_client if client else codec.decode_server

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ALL_STRATEGIES[cls])
    def check(frame: Any) -> None:
        data = codec.encode(frame)
        assert isinstance(data, bytes if codec.binary else str)
        decoded = decode(data)
        assert decoded == frame
        assert type(decoded) is cls
        assert codec.encode(decoded) == data  # stable: decode then encode gives the same
        assert frame_from_wire(frame_to_wire(frame), "client" if client else "server") == frame

    check()


# --- arbitrary input ------------------------------------------------------------------
FIELD_NAMES = sorted(
    {field for cls in ALL_STRATEGIES for field in cls.__dataclass_fields__}
    | {"kind", "id", "name", "content_type", "size", "url", "type"}
)
TYPE_NAMES = sorted(set(f.CLIENT_FRAMES) | set(f.SERVER_FRAMES) | {"", "TYPE", "batchx"})
wild_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([*TYPE_NAMES, "staff", "message", "note", "online", "created", "x" * 70])
)
participant_maps = st.fixed_dictionaries(
    {"kind": st.sampled_from(["staff", "bot", "god"]), "id": ids, "name": names}
)


def wild_maps(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Maps that look like frames: a (mostly) real type and real field names."""
    return st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=8).flatmap(
        lambda d: st.sampled_from(TYPE_NAMES).map(lambda t: {**d, "type": t}) | st.just(d)
    )


wild_values = st.recursive(
    wild_scalars | participant_maps,
    lambda inner: (
        st.lists(inner, max_size=4)
        | wild_maps(inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=15,
)
wild_frames = wild_maps(wild_values) | wild_values


def decode_or_error(codec: Codec, data: bytes | str) -> None:
    """The property: a frame or RemoteProtocolError; an accepted frame re-encodes."""
    problems = []
    for decode in (codec.decode_client, codec.decode_server):
        try:
            frame = decode(data)
        except RemoteProtocolError as exc:
            problems.append(exc.message)
            continue
        assert decode(codec.encode(frame)) == frame
    assert all(problems)  # every error explains itself


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@FAST
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(codec: Codec, data: bytes) -> None:
    decode_or_error(codec, data)


@FAST
@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    decode_or_error(JSON, text)
    decode_or_error(MSGPACK, text)


@WILD
@given(value=wild_frames)
def test_arbitrary_msgpack_maps(value: Any) -> None:
    try:
        data = msgpack.packb(value, use_bin_type=True)
    except (OverflowError, ValueError):
        return  # not representable in msgpack (int beyond 64 bits)
    decode_or_error(MSGPACK, data)


@WILD
@given(value=wild_frames)
def test_arbitrary_json_maps(value: Any) -> None:
    decode_or_error(JSON, json.dumps(value))  # NaN/Infinity included on purpose


@FAST
@given(frame=st.one_of(*ALL_STRATEGIES.values()), cut=st.integers(0, 400), junk=st.binary())
def test_truncated_or_corrupted_frames(frame: Any, cut: int, junk: bytes) -> None:
    data = MSGPACK.encode(frame)
    assert isinstance(data, bytes)
    decode_or_error(MSGPACK, data[:cut])
    decode_or_error(MSGPACK, data[:cut] + junk + data[cut:])
    text = JSON.encode(frame)
    assert isinstance(text, str)
    decode_or_error(JSON, text[:cut] + junk.decode("latin-1") + text[cut:])


@FAST
@given(frame=st.one_of(*ALL_STRATEGIES.values()), data=st.data())
def test_mutated_valid_frames(frame: Any, data: st.DataObject) -> None:
    """Replace, drop or add one key of a valid frame (nested ones included)."""
    wire = frame_to_wire(frame)
    target = wire
    for _ in range(data.draw(st.integers(0, 2))):  # sometimes descend into a nested map
        nested = [v for v in target.values() if isinstance(v, dict)]
        nested += [
            i for v in target.values() if isinstance(v, list) for i in v if isinstance(i, dict)
        ]
        if not nested:
            break
        target = data.draw(st.sampled_from(nested))
    key = data.draw(st.sampled_from([*target, "extra", *FIELD_NAMES]))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    if action == "delete":
        target.pop(key, None)
    else:
        target[key] = data.draw(wild_values)
    try:
        packed = msgpack.packb(wire, use_bin_type=True)
    except (OverflowError, ValueError):
        packed = b""
    decode_or_error(MSGPACK, packed)
    decode_or_error(JSON, json.dumps(wire))
