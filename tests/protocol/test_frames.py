"""Shape of the frame dataclasses (protocol/frames.py)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from protocol import frames
from protocol.frames import (
    CLIENT_FRAMES,
    SERVER_FRAMES,
    Attachment,
    Batch,
    Join,
    Participant,
    Send,
)

ALL_CLASSES = [*CLIENT_FRAMES.values(), *SERVER_FRAMES.values(), Participant, Attachment]


def test_registries_hold_the_spec_types() -> None:
    assert set(CLIENT_FRAMES) == {"hello", "join", "leave", "send", "typing", "read", "ping"}
    assert set(SERVER_FRAMES) == {
        "welcome",
        "message",
        "ack",
        "history_end",
        "typing",
        "presence",
        "receipt",
        "conversation",
        "error",
        "pong",
        "batch",
    }
    for registry in (CLIENT_FRAMES, SERVER_FRAMES):
        for frame_type, cls in registry.items():
            assert cls.TYPE == frame_type


def test_class_names() -> None:
    assert [c.__name__ for c in CLIENT_FRAMES.values()] == [
        "Hello", "Join", "Leave", "Send", "Typing", "Read", "Ping",
    ]  # fmt: skip
    assert [c.__name__ for c in SERVER_FRAMES.values()] == [
        "Welcome", "MessageFrame", "Ack", "HistoryEnd", "TypingFrame", "Presence",
        "Receipt", "ConversationFrame", "ErrorFrame", "Pong", "Batch",
    ]  # fmt: skip


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_frozen_slotted_dataclass(cls: type[Any]) -> None:
    assert dataclasses.is_dataclass(cls)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert "TYPE" not in {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_sequence_fields_are_tuples(cls: type[Any]) -> None:
    hints = typing.get_type_hints(cls, vars(frames))
    for field in dataclasses.fields(cls):
        origin = typing.get_origin(hints[field.name])
        assert origin is not list, f"{cls.__name__}.{field.name} must be a tuple"
        assert field.default_factory is dataclasses.MISSING  # defaults are immutable


@pytest.mark.parametrize("cls", list(CLIENT_FRAMES.values()), ids=lambda c: c.__name__)
def test_client_frames_end_with_optional_ref(cls: type[Any]) -> None:
    last = dataclasses.fields(cls)[-1]
    assert last.name == "ref"
    assert last.default is None
    assert typing.get_type_hints(cls)["ref"] == str | None


def test_frames_are_immutable_and_hashable() -> None:
    send = Send("c1", "m1", "hi", attachments=("a1", "a2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        send.body = "changed"  # type: ignore[misc]
    assert hash(send) == hash(Send("c1", "m1", "hi", attachments=("a1", "a2")))
    assert Join("c1") == Join("c1", after_seq=0, ref=None)
    assert Batch(()).frames == ()


def test_literal_sets_match_the_spec() -> None:
    assert frames.PARTICIPANT_KINDS == {"contact", "staff", "bot", "system"}
    assert frames.MESSAGE_KINDS == {"message", "note", "event"}
    assert frames.SEND_KINDS == {"message", "note"}
    assert frames.PRESENCE_STATUSES == {"online", "offline"}
    assert frames.CONVERSATION_EVENTS == {"created", "updated", "message"}


def test_limits_match_the_spec() -> None:
    assert frames.MAX_FRAME_BYTES == 65536
    assert frames.MAX_BODY_BYTES == 16384
    assert frames.MAX_ATTACHMENTS == 10
    assert frames.MAX_ID_CHARS == 64
    assert frames.MAX_CLIENT_CHARS == 64
