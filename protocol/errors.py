"""Error vocabulary of the wire protocol: error codes, close codes and exceptions.

The codes are stable strings that travel in ``error`` frames; clients switch on them, so
a member's value never changes once published (see docs/protocol.md). Exceptions say
whose fault a problem is, like h11 and wsproto do: :class:`RemoteProtocolError` when the
peer sent something invalid, :class:`LocalProtocolError` when our own code tried to encode
something invalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ERROR_CLOSE_CODES",
    "CloseCode",
    "ErrorCode",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "close_code_for",
]


class ErrorCode(StrEnum):
    """Stable error codes carried by ``error`` frames (the value is the wire string)."""

    #: The message could not be decoded (not JSON/msgpack, bad UTF-8) or is not a map.
    BAD_FRAME = "bad_frame"
    #: The ``type`` is not a known frame type for this direction.
    UNKNOWN_TYPE = "unknown_type"
    #: A required field is missing.
    MISSING_FIELD = "missing_field"
    #: A field has the wrong type or a value outside its allowed range or set.
    BAD_FIELD = "bad_field"
    #: The encoded frame is larger than the frame limit (65536 bytes).
    FRAME_TOO_LARGE = "frame_too_large"
    #: A ``body`` is longer than 16384 bytes of UTF-8.
    BODY_TOO_LARGE = "body_too_large"
    #: More than 10 attachments.
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    #: The first frame of a connection must be ``hello``.
    HELLO_REQUIRED = "hello_required"
    #: A second ``hello`` arrived on an authenticated connection.
    ALREADY_AUTHENTICATED = "already_authenticated"
    #: The token (or console session) is missing, malformed or unknown.
    UNAUTHORIZED = "unauthorized"
    #: The token was valid but has expired; get a fresh one and reconnect.
    TOKEN_EXPIRED = "token_expired"
    #: The identity is authenticated but may not do this.
    FORBIDDEN = "forbidden"
    #: The conversation (or another referenced object) does not exist.
    NOT_FOUND = "not_found"
    #: The frame needs a ``join`` of that conversation first.
    NOT_JOINED = "not_joined"
    #: Too many frames or messages; slow down.
    RATE_LIMITED = "rate_limited"
    #: The server is busy or shutting down; retry later, usually after a reconnect.
    UNAVAILABLE = "unavailable"
    #: An unexpected server error; the frame may be retried.
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """Websocket close codes the server uses (4xxx are application codes)."""

    #: Normal closure (the client or the server is done).
    NORMAL = 1000
    #: Policy violation: authentication failed or the peer is abusive.
    POLICY = 1008
    #: A frame was larger than the frame limit.
    TOO_BIG = 1009
    #: Unexpected server error.
    SERVER_ERROR = 1011
    #: The token expired during the connection; reconnect with a fresh token.
    TOKEN_EXPIRED = 4001
    #: The client did not read fast enough; reconnect and resume with ``after_seq``.
    TOO_SLOW = 4008
    #: The client exceeded a rate limit badly enough to be disconnected.
    RATE_LIMITED = 4029


#: Error codes that end the connection, and with which close code. Everything else is
#: answered with an ``error`` frame and the connection stays open: one bad frame must
#: not cost a client its subscriptions. An oversized frame closes because the peer is
#: either broken or abusive and we refuse to buffer its next attempt.
ERROR_CLOSE_CODES: Final[Mapping[ErrorCode, CloseCode]] = MappingProxyType(
    {ErrorCode.FRAME_TOO_LARGE: CloseCode.TOO_BIG}
)


def close_code_for(code: ErrorCode) -> CloseCode | None:
    """Return the close code an error implies, or None when the connection stays open.

    Args:
        code: The error code that was (or is about to be) reported.

    Returns:
        The websocket close code to close with, or None to keep serving.
    """
    return ERROR_CLOSE_CODES.get(code)


class ProtocolError(Exception):
    """A frame broke the protocol.

    Attributes:
        code: The stable error code to put into the ``error`` frame.
        message: A human readable explanation naming the offending field.
        ref: The ``ref`` of the offending client frame when it could be read, so the
            error frame can echo it; None otherwise.
    """

    code: ErrorCode
    message: str
    ref: str | None

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(code, message, ref)
        self.code = code
        self.message = message
        self.ref = ref

    @property
    def close_code(self) -> CloseCode | None:
        """The close code this error implies, or None (see :func:`close_code_for`)."""
        return close_code_for(self.code)

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!s}, {self.message!r}, ref={self.ref!r})"


class RemoteProtocolError(ProtocolError):
    """The peer sent something that breaks the protocol (answer with an error frame)."""


class LocalProtocolError(ProtocolError):
    """We tried to encode something that breaks the protocol (a bug on our side)."""
