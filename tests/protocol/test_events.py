"""Domain events survive the trip through their JSON payload (protocol/events.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from protocol.events import (
    EVENT_TYPES,
    ConversationCreated,
    ConversationUpdated,
    Interaction,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessageRead,
    ParticipantJoined,
    ParticipantLeft,
    event_from_payload,
    event_to_payload,
)
from protocol.frames import MAX_BODY_BYTES, Attachment, Participant

ANN = Participant("staff", "u1", "Ann")
VI = Participant("contact", "v1", "Vi")

ids = st.text(min_size=1, max_size=64)
ts = st.integers(0, 2**63 - 1)
participants = st.builds(
    Participant, kind=st.sampled_from(["contact", "staff", "bot", "system"]), id=ids,
    name=st.text(max_size=30),
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
json_maps = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
attachments = st.builds(
    Attachment, id=ids, name=st.text(max_size=20), content_type=st.text(max_size=20),
    size=ts, url=st.text(min_size=1, max_size=40),
)  # fmt: skip
STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    MessagePosted: st.builds(
        MessagePosted, conversation=ids, seq=ts,
        kind=st.sampled_from(["message", "note", "event"]), author=participants,
        body=st.text(max_size=100), attachments=st.lists(attachments, max_size=3).map(tuple),
        client_msg_id=st.none() | ids, in_reply_to=st.none() | ts, ts=ts,
        data=st.none() | json_maps,
    ),
    MessageEdited: st.builds(MessageEdited, conversation=ids, seq=ts, body=st.text(max_size=50),
                             editor=participants, ts=ts),
    MessageDeleted: st.builds(MessageDeleted, conversation=ids, seq=ts, by=participants, ts=ts),
    ConversationCreated: st.builds(
        ConversationCreated, conversation=ids, context=st.none() | ids,
        contact=st.none() | ids, channel=ids, ts=ts,
    ),
    ConversationUpdated: st.builds(
        ConversationUpdated, conversation=ids,
        changes=st.dictionaries(st.text(max_size=10),
                                st.tuples(json_values, json_values).map(list), max_size=4),
        by=participants, ts=ts,
    ),
    ParticipantJoined: st.builds(ParticipantJoined, conversation=ids, participant=participants,
                                 ts=ts),
    ParticipantLeft: st.builds(ParticipantLeft, conversation=ids, participant=participants, ts=ts),
    MessageRead: st.builds(MessageRead, conversation=ids, reader=participants, seq=ts, ts=ts),
    Interaction: st.builds(Interaction, conversation=ids, participant=participants,
                           kind=st.sampled_from(["poll", "question", "reaction"]),
                           payload=json_maps, ts=ts),
}  # fmt: skip


def test_event_types_registry() -> None:
    assert EVENT_TYPES == {
        "message.posted": MessagePosted,
        "message.edited": MessageEdited,
        "message.deleted": MessageDeleted,
        "conversation.created": ConversationCreated,
        "conversation.updated": ConversationUpdated,
        "participant.joined": ParticipantJoined,
        "participant.left": ParticipantLeft,
        "message.read": MessageRead,
        "interaction.recorded": Interaction,
    }
    assert set(STRATEGIES) == set(EVENT_TYPES.values())
    for cls in EVENT_TYPES.values():
        assert cls.__dataclass_params__.frozen
        assert "__slots__" in cls.__dict__


@settings(max_examples=200, deadline=None)
@given(event=st.one_of(*STRATEGIES.values()))
def test_round_trip_through_json(event: Any) -> None:
    payload = event_to_payload(event)
    assert "type" not in payload
    stored = json.loads(json.dumps(payload, allow_nan=False))  # what the event log keeps
    assert event_from_payload(event.TYPE, stored) == event


def test_payload_shape() -> None:
    event = MessagePosted(
        "c1", 4, "message", VI, "hi", (Attachment("a1", "f", "text/plain", 1, "/a"),),
        "m1", None, 1_700_000_000_000,
    )  # fmt: skip
    assert event_to_payload(event) == {
        "conversation": "c1",
        "seq": 4,
        "kind": "message",
        "author": {"kind": "contact", "id": "v1", "name": "Vi"},
        "body": "hi",
        "attachments": [
            {"id": "a1", "name": "f", "content_type": "text/plain", "size": 1, "url": "/a"}
        ],
        "client_msg_id": "m1",
        "in_reply_to": None,
        "ts": 1_700_000_000_000,
        "data": None,
    }


def test_changes_pairs_become_lists() -> None:
    event = ConversationUpdated("c1", {"status": ("open", "resolved")}, ANN, 5)  # type: ignore[dict-item]
    payload = event_to_payload(event)
    assert payload["changes"] == {"status": ["open", "resolved"]}
    assert event_from_payload("conversation.updated", payload).changes == {  # type: ignore[union-attr]
        "status": ["open", "resolved"]
    }


@pytest.mark.parametrize(
    ("event_type", "payload", "code", "message"),
    [
        ("message.exploded", {}, ErrorCode.UNKNOWN_TYPE, "'message.exploded' is not an event type"),
        ("message.read", [], ErrorCode.BAD_FRAME, "message.read payload must be a map"),
        ("message.read", {"conversation": "c", "reader": {"kind": "staff", "id": "u",
         "name": ""}, "ts": 1}, ErrorCode.MISSING_FIELD, "message.read.seq is required"),
        ("message.deleted", {"conversation": "c", "seq": "1", "by": {}, "ts": 1},
         ErrorCode.BAD_FIELD, "message.deleted.seq must be an integer"),
        ("participant.left", {"conversation": "c", "participant": {"kind": "x", "id": "u",
         "name": ""}, "ts": 1}, ErrorCode.BAD_FIELD,
         "participant.left.participant.kind must be one of 'bot', 'contact', 'staff', 'system'"),
        ("conversation.updated", {"conversation": "c", "changes": {"status": ["open"]},
         "by": {"kind": "bot", "id": "b", "name": ""}, "ts": 1}, ErrorCode.BAD_FIELD,
         "conversation.updated.changes.status must be a list [old, new]"),
        ("message.edited", {"conversation": "c", "seq": 1, "body": "x" * (MAX_BODY_BYTES + 1),
         "editor": {"kind": "bot", "id": "b", "name": ""}, "ts": 1}, ErrorCode.BODY_TOO_LARGE,
         "message.edited.body must be at most 16384 bytes of UTF-8 (got 16385 or more)"),
    ],
)  # fmt: skip
def test_bad_payloads(event_type: str, payload: Any, code: ErrorCode, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        event_from_payload(event_type, payload)
    assert info.value.code is code
    assert info.value.message == message


def test_unknown_payload_keys_are_ignored() -> None:
    payload = {"conversation": "c", "participant": {"kind": "staff", "id": "u", "name": "A",
               "avatar": "x"}, "ts": 3, "new_in_v2": True}  # fmt: skip
    assert event_from_payload("participant.joined", payload) == ParticipantJoined(
        "c", Participant("staff", "u", "A"), 3
    )


def test_invalid_event_cannot_be_written() -> None:
    with pytest.raises(LocalProtocolError) as info:
        event_to_payload(Interaction("c", ANN, "poll", {"x": {1, 2}}, 1))
    assert info.value.message == "interaction.recorded.payload contains a set, which is not JSON"
    with pytest.raises(LocalProtocolError) as info:
        event_to_payload(ANN)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.UNKNOWN_TYPE
    bad = dataclasses.replace(MessageRead("c", ANN, 1, 1), seq=-1)
    with pytest.raises(LocalProtocolError):
        event_to_payload(bad)
