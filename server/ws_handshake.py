"""The opening handshake of a websocket, as the listener sees it: the request head it
read, whether it asks for ``/ws``, and the ASGI scope built from it.

Split from server/ws_native.py (the connection itself): the listener (server/listener.py)
needs only this part to decide where a connection goes, and it is plain parsing with no
I/O, so it reads on its own.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The request line and headers of an HTTP/1.x request (names lower-cased)."""

    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def parse_head(raw: bytes) -> RequestHead | None:
    """The head of a request (``raw`` ends with the blank line), or None when it is not a
    plain HTTP/1.x head (hypercorn then gets it and answers as it always did)."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            return None
        headers.append((name.lower(), value.strip()))
    return RequestHead(parts[0], parts[1], parts[2], headers)


def is_websocket_upgrade(head: RequestHead, path: bytes = b"/ws") -> bool:
    """A valid websocket handshake (RFC 6455 4.2.1) for ``path``; anything else, including
    a malformed handshake, is left to hypercorn."""
    if head.method != b"GET" or head.version != b"HTTP/1.1":
        return False
    if head.target.partition(b"?")[0] != path:
        return False
    upgrade = head.header(b"upgrade")
    connection = head.header(b"connection")
    return (
        upgrade is not None
        and upgrade.lower() == b"websocket"
        and connection is not None
        and any(token.strip().lower() == b"upgrade" for token in connection.split(b","))
        and head.header(b"sec-websocket-key") is not None
        and head.header(b"sec-websocket-version") == b"13"
    )


def websocket_scope(
    head: RequestHead,
    sock: socket.socket,
    *,
    root_path: str,
    state: dict[str, Any],
) -> dict[str, Any]:
    """The ASGI websocket scope of a handshake (the fields hypercorn fills in)."""
    path, _, query = head.target.partition(b"?")
    offered = head.header(b"sec-websocket-protocol")
    return {
        "type": "websocket",
        "asgi": {"spec_version": "2.3", "version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": unquote(path.decode("ascii")),
        "raw_path": path,
        "query_string": query,
        "root_path": root_path,
        "headers": head.headers,
        "client": _address(sock.getpeername()),
        "server": _address(sock.getsockname()),
        "state": state,
        "subprotocols": [p.strip() for p in offered.decode("ascii").split(",")] if offered else [],
        "extensions": {},
    }


def _address(address: Any) -> tuple[str, int] | None:
    return (address[0], address[1]) if isinstance(address, tuple) else None
