"""A loopback webhook receiver for browser tests, and the world of a server that may call
it (the ``hook_world`` fixture in tests/web/conftest.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from actors.records import NewMessage
from protocol.frames import Participant

if TYPE_CHECKING:
    from tests.web.conftest import ServerThread

#: Real seconds the receiver waits for a request the test expects.
WAIT = 15


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A loopback webhook receiver: records requests, answers ``script`` statuses in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[int] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._changed:
                    status = receiver.script.pop(0) if receiver.script else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append(Request(self.path, headers, body))
                    receiver._changed.notify_all()
                answer = f"answered {status}".encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(WAIT)

    def wait_for(self, count: int) -> list[Request]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, WAIT):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)


@dataclass
class HookWorld:
    live: ServerThread
    receiver: Receiver
    conversation: str
    contact: Participant

    @property
    def url(self) -> str:
        return self.live.url

    def post(self, body: str) -> None:
        system = self.live.running.state.system  # type: ignore[union-attr]
        self.live.call(system.post, NewMessage(self.conversation, self.contact, "message", body))
