"""The error vocabulary: codes, close codes, exceptions (protocol/errors.py)."""

from __future__ import annotations

import ast
from enum import Enum
from pathlib import Path

import pytest

from protocol.errors import (
    ERROR_CLOSE_CODES,
    CloseCode,
    ErrorCode,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    close_code_for,
)
from protocol.frames import MAX_ERROR_MESSAGE_CHARS, ErrorFrame

ERRORS_PY = Path(__file__).resolve().parents[2] / "protocol" / "errors.py"

# The stable strings of docs/dev/wire-spec.md; changing one breaks deployed clients.
SPEC_ERROR_CODES = {
    "bad_frame",
    "unknown_type",
    "missing_field",
    "bad_field",
    "frame_too_large",
    "body_too_large",
    "too_many_attachments",
    "hello_required",
    "already_authenticated",
    "unauthorized",
    "token_expired",
    "forbidden",
    "not_found",
    "not_joined",
    "rate_limited",
    "unavailable",
    "internal",
}
SPEC_CLOSE_CODES = {
    "NORMAL": 1000,
    "POLICY": 1008,
    "TOO_BIG": 1009,
    "SERVER_ERROR": 1011,
    "TOKEN_EXPIRED": 4001,
    "TOO_SLOW": 4008,
    "RATE_LIMITED": 4029,
}


def test_error_codes_are_exactly_the_spec() -> None:
    assert {code.value for code in ErrorCode} == SPEC_ERROR_CODES
    for code in ErrorCode:
        assert code.name.lower() == code.value
        assert isinstance(code, str)
        assert isinstance(code, Enum)
        assert ErrorCode(code.value) is code


def test_close_codes_are_exactly_the_spec() -> None:
    assert {c.name: int(c) for c in CloseCode} == SPEC_CLOSE_CODES


@pytest.mark.parametrize("enum_name", ["ErrorCode", "CloseCode"])
def test_every_member_has_a_doc_comment(enum_name: str) -> None:
    source = ERRORS_PY.read_text(encoding="utf-8")
    lines = source.splitlines()
    cls = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == enum_name
    )
    members = [node for node in cls.body if isinstance(node, ast.Assign)]
    assert len(members) == len(ErrorCode if enum_name == "ErrorCode" else CloseCode)
    for member in members:
        previous = lines[member.lineno - 2].strip()
        assert previous.startswith("#: "), f"{enum_name} member on line {member.lineno}"


def test_only_frame_too_large_closes() -> None:
    assert close_code_for(ErrorCode.FRAME_TOO_LARGE) is CloseCode.TOO_BIG
    assert dict(ERROR_CLOSE_CODES) == {ErrorCode.FRAME_TOO_LARGE: CloseCode.TOO_BIG}
    for code in ErrorCode:
        if code is not ErrorCode.FRAME_TOO_LARGE:
            assert close_code_for(code) is None
            assert RemoteProtocolError(code, "x").close_code is None
    assert RemoteProtocolError(ErrorCode.FRAME_TOO_LARGE, "x").close_code == 1009


def test_exception_attributes_and_text() -> None:
    exc = RemoteProtocolError(ErrorCode.BAD_FIELD, "send.body must be a string", ref="r1")
    assert isinstance(exc, ProtocolError)
    assert not isinstance(exc, LocalProtocolError)
    assert (exc.code, exc.message, exc.ref) == (
        ErrorCode.BAD_FIELD,
        "send.body must be a string",
        "r1",
    )
    assert str(exc) == "bad_field: send.body must be a string"
    assert "RemoteProtocolError" in repr(exc)
    local = LocalProtocolError(ErrorCode.INTERNAL, "oops")
    assert local.ref is None
    assert isinstance(local, ProtocolError)
    assert not isinstance(local, RemoteProtocolError)


def test_error_frame_from_exception() -> None:
    exc = RemoteProtocolError(ErrorCode.NOT_FOUND, "no conversation c1", ref="r7")
    frame = ErrorFrame.from_exception(exc)
    assert frame == ErrorFrame("not_found", "no conversation c1", "r7")
    assert type(frame.code) is str
    assert ErrorFrame.from_exception(exc, ref="other").ref == "other"
    long = ErrorFrame.from_exception(LocalProtocolError(ErrorCode.INTERNAL, "x" * 5000))
    assert len(long.message) == MAX_ERROR_MESSAGE_CHARS
