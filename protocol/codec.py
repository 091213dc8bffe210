"""Codecs of the two websocket subprotocols: JSON (text frames) and msgpack (binary).

A codec turns frames into websocket message payloads and back. Decoding checks the
frame size before parsing anything, then validates every field (:mod:`protocol.wire`),
and raises only :class:`~protocol.errors.RemoteProtocolError`. Encoding validates too
and raises :class:`~protocol.errors.LocalProtocolError`.

:meth:`Codec.encode_batch` and :meth:`Codec.coalesce` serve the server's fan-out: a
message is encoded once and the already encoded bytes are wrapped, by concatenation,
into ``batch`` frames for every subscriber; nothing is decoded or encoded again.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any, Final, NoReturn, cast

import msgpack

from protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from protocol.frames import MAX_FRAME_BYTES, ClientFrame, Frame, ServerFrame
from protocol.wire import frame_from_wire, frame_to_wire

__all__ = [
    "CODECS",
    "JSON",
    "MSGPACK",
    "SUBPROTOCOLS",
    "Codec",
    "JsonCodec",
    "MsgpackCodec",
    "select_codec",
    "wire_size",
]

#: Longest excerpt of a parser's complaint we repeat to the peer (it may quote input).
MAX_PARSER_MESSAGE_CHARS: Final = 200

# JSON batch wrapper, written by hand so member frames are never decoded again.
_JSON_BATCH_HEAD: Final = '{"type":"batch","frames":['
_JSON_BATCH_TAIL: Final = "]}"
# msgpack: fixmap(2), "type", "batch", "frames"; the array header follows.
_MSGPACK_BATCH_HEAD: Final = b"\x82\xa4type\xa5batch\xa6frames"
_FIXARRAY_MAX: Final = 15
_ARRAY16_MAX: Final = 0xFFFF


def wire_size(data: bytes | bytearray | memoryview | str) -> int:
    """Size of a websocket payload in bytes (text counts as UTF-8)."""
    if isinstance(data, str):
        if data.isascii():
            return len(data)
        return len(data.encode("utf-8", "surrogatepass"))
    return memoryview(data).nbytes


def _too_large(size: int, limit: int) -> str:
    return f"frame is {size} bytes, more than the limit of {limit}"


class Codec:
    """One subprotocol's serialisation (use the :data:`JSON` and :data:`MSGPACK` instances).

    Attributes:
        subprotocol: The websocket subprotocol name.
        binary: True when payloads are bytes (binary websocket messages), False for text.
    """

    subprotocol: str
    binary: bool

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.subprotocol}>"

    # --- to be provided by the concrete codecs -------------------------------------
    def _dumps(self, wire: dict[str, Any]) -> bytes | str:
        raise NotImplementedError

    def _loads(self, data: bytes | bytearray | memoryview | str) -> Any:
        raise NotImplementedError

    def _batch_size(self, count: int, payload: int) -> int:
        """Bytes of a batch of ``count`` frames whose own sizes sum to ``payload``."""
        raise NotImplementedError

    def _join_batch(self, encoded: Sequence[bytes | str]) -> bytes | str:
        raise NotImplementedError

    # --- public API ------------------------------------------------------------------
    def encode(self, frame: Frame) -> bytes | str:
        """Validate and serialise a frame (client or server frame, batches included).

        Returns:
            ``str`` for JSON (a text message), ``bytes`` for msgpack (a binary message).

        Raises:
            LocalProtocolError: The frame breaks a rule or encodes to more than
                ``MAX_FRAME_BYTES`` (code ``frame_too_large``).
        """
        wire = frame_to_wire(frame)
        try:
            data = self._dumps(wire)
        except (ValueError, TypeError, OverflowError) as exc:
            raise LocalProtocolError(
                ErrorCode.BAD_FIELD, f"{frame.TYPE} cannot be encoded: {exc}"
            ) from None
        size = wire_size(data)
        if size > MAX_FRAME_BYTES:
            raise LocalProtocolError(ErrorCode.FRAME_TOO_LARGE, _too_large(size, MAX_FRAME_BYTES))
        return data

    def decode_client(self, data: bytes | bytearray | memoryview | str) -> ClientFrame:
        """Decode a message a client sent (the server's side).

        Raises:
            RemoteProtocolError: Anything wrong with it; nothing else escapes.
        """
        return frame_from_wire(self._parse(data), "client")

    def decode_server(self, data: bytes | bytearray | memoryview | str) -> ServerFrame:
        """Decode a message the server sent (a client's side); batches are unpacked.

        Raises:
            RemoteProtocolError: Anything wrong with it; nothing else escapes.
        """
        return frame_from_wire(self._parse(data), "server")

    def encode_batch(
        self, encoded: Sequence[bytes | str], *, max_bytes: int = MAX_FRAME_BYTES
    ) -> bytes | str:
        """Wrap already encoded server frames into one ``batch`` frame by concatenation.

        The members are not decoded or checked: they must be outputs of this codec's
        :meth:`encode` for server frames other than ``batch``.

        Args:
            encoded: The member payloads, in order (may be empty).
            max_bytes: The size the result may have; a peer rejects more than
                ``MAX_FRAME_BYTES``, so only raise it for tests or tools.

        Raises:
            LocalProtocolError: A member has the wrong payload type (``bad_field``) or the
                batch would exceed ``max_bytes`` (``frame_too_large``; see :meth:`coalesce`).
        """
        try:
            data = self._join_batch(encoded)
        except TypeError:
            kind = "bytes" if self.binary else "str"
            raise LocalProtocolError(
                ErrorCode.BAD_FIELD, f"batch.frames must all be {kind} from {self!r}.encode"
            ) from None
        size = wire_size(data)
        if size > max_bytes:
            raise LocalProtocolError(ErrorCode.FRAME_TOO_LARGE, _too_large(size, max_bytes))
        return data

    def coalesce(
        self, encoded: Sequence[bytes | str], *, max_bytes: int = MAX_FRAME_BYTES
    ) -> list[bytes | str]:
        """Pack queued encoded frames into as few websocket messages as fit ``max_bytes``.

        This is what a session writer calls with everything queued for its subscriber:
        consecutive frames are wrapped into ``batch`` frames of at most ``max_bytes``
        bytes, in order; a frame that ends up alone is sent as itself, unwrapped.

        Returns:
            The payloads to send, in order (empty when ``encoded`` is empty).
        """
        out: list[bytes | str] = []
        group: list[bytes | str] = []
        payload = 0
        for item in encoded:
            size = wire_size(item)
            if group and self._batch_size(len(group) + 1, payload + size) > max_bytes:
                out.append(group[0] if len(group) == 1 else self._join_batch(group))
                group, payload = [], 0
            group.append(item)
            payload += size
        if group:
            out.append(group[0] if len(group) == 1 else self._join_batch(group))
        return out

    def _parse(self, data: bytes | bytearray | memoryview | str) -> Any:
        """Size check first, then parse; every failure becomes a RemoteProtocolError."""
        if not isinstance(data, (bytes, bytearray, memoryview, str)):
            raise RemoteProtocolError(
                ErrorCode.BAD_FRAME, f"a frame must be bytes or text, not {type(data).__name__}"
            )
        size = wire_size(data)
        if size > MAX_FRAME_BYTES:
            raise RemoteProtocolError(ErrorCode.FRAME_TOO_LARGE, _too_large(size, MAX_FRAME_BYTES))
        try:
            return self._loads(data)
        except RemoteProtocolError:
            raise
        except Exception as exc:  # the parsers raise many types; all mean "bad frame"
            detail = str(exc)[:MAX_PARSER_MESSAGE_CHARS] or type(exc).__name__
            raise RemoteProtocolError(
                ErrorCode.BAD_FRAME, f"not a valid {self.subprotocol} frame: {detail}"
            ) from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


class JsonCodec(Codec):
    """``switchboard.v1.json``: compact UTF-8 JSON in text messages."""

    subprotocol = "switchboard.v1.json"
    binary = False

    def __init__(self) -> None:
        # One encoder/decoder each: they hold no per-call state, so sharing is safe.
        self._encoder = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
        )
        self._decoder = json.JSONDecoder(parse_constant=_reject_constant)

    def _dumps(self, wire: dict[str, Any]) -> str:
        return self._encoder.encode(wire)

    def _loads(self, data: bytes | bytearray | memoryview | str) -> Any:
        if not isinstance(data, str):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                raise RemoteProtocolError(ErrorCode.BAD_FRAME, "a frame must be UTF-8") from None
        return self._decoder.decode(data)

    def _batch_size(self, count: int, payload: int) -> int:
        return len(_JSON_BATCH_HEAD) + payload + max(count - 1, 0) + len(_JSON_BATCH_TAIL)

    def _join_batch(self, encoded: Sequence[bytes | str]) -> str:
        return _JSON_BATCH_HEAD + ",".join(cast("Sequence[str]", encoded)) + _JSON_BATCH_TAIL


def _array_header(count: int) -> bytes:
    """msgpack array header: fixarray, array16 or array32, as msgpack itself writes them."""
    if count <= _FIXARRAY_MAX:
        return bytes((0x90 | count,))
    if count <= _ARRAY16_MAX:
        return b"\xdc" + struct.pack(">H", count)
    return b"\xdd" + struct.pack(">I", count)


class MsgpackCodec(Codec):
    """``switchboard.v1.msgpack``: msgpack maps in binary messages (str/bin types apart)."""

    subprotocol = "switchboard.v1.msgpack"
    binary = True

    def _dumps(self, wire: dict[str, Any]) -> bytes:
        return msgpack.packb(wire, use_bin_type=True)  # type: ignore[no-any-return]

    def _loads(self, data: bytes | bytearray | memoryview | str) -> Any:
        if isinstance(data, str):
            raise RemoteProtocolError(
                ErrorCode.BAD_FRAME, f"{self.subprotocol} frames must be binary messages"
            )
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)

    def _batch_size(self, count: int, payload: int) -> int:
        return len(_MSGPACK_BATCH_HEAD) + len(_array_header(count)) + payload

    def _join_batch(self, encoded: Sequence[bytes | str]) -> bytes:
        body = b"".join(cast("Sequence[bytes]", encoded))
        return _MSGPACK_BATCH_HEAD + _array_header(len(encoded)) + body


#: The JSON codec (browsers).
JSON: Final[Codec] = JsonCodec()
#: The msgpack codec (Python clients, bridges, load tests).
MSGPACK: Final[Codec] = MsgpackCodec()
#: Subprotocols in the server's order of preference.
SUBPROTOCOLS: Final[tuple[str, ...]] = (MSGPACK.subprotocol, JSON.subprotocol)
#: Codecs by subprotocol name.
CODECS: Final[dict[str, Codec]] = {codec.subprotocol: codec for codec in (MSGPACK, JSON)}


def select_codec(offered: Iterable[str]) -> Codec | None:
    """Pick the codec for a handshake: the server's preferred subprotocol the client offered.

    Returns:
        The codec, or None when the client offered none of :data:`SUBPROTOCOLS` (the
        server should then reject the handshake).
    """
    offered = set(offered)
    for name in SUBPROTOCOLS:
        if name in offered:
            return CODECS[name]
    return None
