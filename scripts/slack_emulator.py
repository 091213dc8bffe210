#!/usr/bin/env python3
"""A stateful local Slack for tests and the demo.

The emulator keeps a workspace in memory (users with emails, channels with members,
messages with threads and reactions) and serves the Web API methods the Switchboard
Slack bridge uses, at ``http://127.0.0.1:PORT/api/<method>``, exactly as
``slack_sdk.WebClient(base_url=...)`` calls them. It answers with Slack's shapes and
error codes, injects faults (429 + Retry-After, 5xx, hangs, chosen errors), and sends
signed Events API callbacks (with Slack's retries) when a "human" posts, edits or
deletes through the control API under ``/_emulator/``. See docs/slack-emulator.md.

Run it standalone::

    python scripts/slack_emulator.py --port 0 --events-url http://127.0.0.1:8080/slack/events

or inside a test's nursery::

    state = SlackState()
    base_url = await nursery.start(slack_emulator.serve, state)

Only loopback addresses are served and only loopback URLs receive events: this is a
test tool and must never become an open relay.

The code is split over sibling modules, re-exported here (import ``slack_emulator``,
not them): slack_emulator_models.py (limits, data classes, ``SlackError``),
slack_emulator_state.py (the workspace and its rules), slack_emulator_events.py (human
actions and Events API delivery), slack_emulator_api.py (the Web API methods) and
slack_emulator_control.py (the control API). This module combines them into
:class:`SlackState` and serves it over HTTP.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

#: The sibling slack_emulator_* modules (also when this file is imported by path, not run).
SCRIPTS_DIR = str(Path(__file__).resolve().parent)
if SCRIPTS_DIR not in sys.path:
    sys.path.insert(0, SCRIPTS_DIR)

from slack_emulator_api import API_METHODS, ApiHandler, _Params, parse_params  # noqa: E402
from slack_emulator_control import CONTROL_ROUTES, Response, _control  # noqa: E402
from slack_emulator_events import EventsState, sign_request  # noqa: E402
from slack_emulator_models import (  # noqa: E402
    CHANNEL_NAME_RE,
    DEFAULT_PAGE_SIZE,
    EMOJI_RE,
    EVENT_ACK_TIMEOUT,
    EVENT_QUEUE_SIZE,
    EVENT_RETRY_DELAYS,
    FAULT_KINDS,
    LOOPBACK_HOSTS,
    MAX_BODY_BYTES,
    MAX_CHANNEL_NAME,
    MAX_PAGE_SIZE,
    MAX_TEXT_CHARS,
    TS_RE,
    Attempt,
    CallRecord,
    Channel,
    Delivery,
    Emitted,
    EmulatorConfig,
    Fault,
    Json,
    Message,
    SlackError,
    User,
    require_loopback_url,
)
from slack_emulator_state import WorkspaceState  # noqa: E402

#: The public API: every name the rest of the project may use as ``slack_emulator.<name>``.
__all__ = [
    "API_METHODS",
    "CHANNEL_NAME_RE",
    "CONTROL_ROUTES",
    "DEFAULT_PAGE_SIZE",
    "EMOJI_RE",
    "EVENT_ACK_TIMEOUT",
    "EVENT_QUEUE_SIZE",
    "EVENT_RETRY_DELAYS",
    "FAULT_KINDS",
    "LOOPBACK_HOSTS",
    "MAX_BODY_BYTES",
    "MAX_CHANNEL_NAME",
    "MAX_PAGE_SIZE",
    "MAX_TEXT_CHARS",
    "TS_RE",
    "ApiHandler",
    "Attempt",
    "CallRecord",
    "Channel",
    "Delivery",
    "Emitted",
    "EmulatorApp",
    "EmulatorConfig",
    "EventsState",
    "Fault",
    "Json",
    "Message",
    "Receive",
    "Response",
    "Scope",
    "Send",
    "SlackError",
    "SlackState",
    "User",
    "WorkspaceState",
    "main",
    "parse_params",
    "require_loopback_url",
    "serve",
    "sign_request",
]

logger = logging.getLogger(__name__)


class SlackState(EventsState):
    """The emulated workspace: data, Web API rules, fault queue and event outbox.

    Everything is synchronous except event delivery, which :func:`serve` runs (or a
    test runs with :meth:`run_deliveries`). Mutations wake :meth:`wait_until`.
    """

    def call_api(self, method: str, params: Json, token: str | None) -> tuple[int, Json]:
        """Answer one Web API call (no faults); returns (HTTP status, JSON body).

        Error handling: rule violations become ``{"ok": false, "error": code}`` with
        HTTP 200 like Slack; an unknown method is a 404 ``unknown_method``.
        """
        handler = API_METHODS.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            if method != "api.test":
                if not token:
                    raise SlackError("not_authed")
                if not hmac.compare_digest(token, self.token):
                    raise SlackError("invalid_auth")
            body = {"ok": True, **handler(self, _Params(params))}
        except SlackError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        self.notify()
        return 200, body


# ------------------------------------------------------------------- HTTP app

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class EmulatorApp:
    """The raw ASGI app: ``/api/<method>`` for Slack, ``/_emulator/...`` for control."""

    def __init__(self, state: SlackState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond(send, (413, {"ok": False, "error": "request_too_large"}, {}))
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        if path.startswith("/api/"):
            response = await self._web_api(path[5:], headers, scope["query_string"], body)
        elif path.startswith("/_emulator/"):
            response = await _control(self.state, scope["method"], path[11:], body)
        else:
            response = (404, {"ok": False, "error": "not_found"}, {})
        await _respond(send, response)

    async def _web_api(
        self, method: str, headers: dict[str, str], query: bytes, body: bytes
    ) -> Response:
        state = self.state
        record = CallRecord(method, {}, None)
        state.calls.append(record)
        try:
            params = parse_params(headers, query, body)
        except SlackError as exc:
            record.ok, record.error = False, exc.code
            return 200, {"ok": False, "error": exc.code}, {}
        auth = headers.get("authorization", "")
        body_token = params.pop("token", None)
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else body_token
        record.params, record.token = params, token
        fault = state.take_fault(method)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "rate_limited":
                record.status, record.ok, record.error = 429, False, "ratelimited"
                state.notify()
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(fault.retry_after)},
                )
            if fault.kind == "error":
                record.ok, record.error = False, fault.error
                state.notify()
                return 200, {"ok": False, "error": fault.error}, {}
            if fault.kind == "hang":
                await state.hang(fault.seconds)
            elif not fault.process:
                record.status, record.ok = fault.status, False
                state.notify()
                return fault.status, {"ok": False, "error": _server_error(fault.status)}, {}
        status, answer = state.call_api(method, params, token)
        record.ok, record.error = bool(answer.get("ok")), answer.get("error")
        if fault is not None and fault.cut:
            state.notify()
            return CUT, answer, {}
        if fault is not None and fault.kind == "http_error":
            record.status = fault.status
            return fault.status, {"ok": False, "error": _server_error(fault.status)}, {}
        record.status = status
        return status, answer, {}


def _server_error(status: int) -> str:
    return "service_unavailable" if status == 503 else "internal_error"


#: The status of a response whose connection is cut after the headers (a ``cut`` fault).
CUT = -1


async def _respond(send: Send, response: Response) -> None:
    status, payload, extra = response
    body = json.dumps(payload).encode()
    if status == CUT:
        # Headers announcing a body that never comes: the server closes the connection
        # and the client sees a broken answer (http.client.IncompleteRead).
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        return
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    headers.append((b"x-slack-req-id", uuid.uuid4().hex.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------- serving


async def serve(
    state: SlackState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the emulator and deliver its events until cancelled.

    Reports the Web API base URL (``http://127.0.0.1:PORT/api/``) via ``task_status``.

    Raises:
        ValueError: ``host`` is not a loopback address.
    """
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the Slack emulator binds to loopback only, not {host!r}")
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(state.run_deliveries))
        binds: list[str] = await nursery.start(
            partial(hypercorn_serve, cast(Any, EmulatorApp(state)), config, mode="asgi")
        )
        url = binds[0].rstrip("/") + "/api/"
        logger.info("slack emulator listening on %s", url)
        task_status.started(url)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Local Slack emulator for tests and the demo.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--events-url", help="Events API request URL (loopback only)")
    parser.add_argument("--signing-secret", default=EmulatorConfig.signing_secret)
    parser.add_argument("--token", default="xoxb-test-token", help="the bot token to accept")
    parser.add_argument("--seed-demo", action="store_true", help="create demo users/channels")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every event delivery")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.host not in LOOPBACK_HOSTS:
        parser.error("--host must be a loopback address")
    state = SlackState(token=args.token)
    try:
        state.configure(request_url=args.events_url, signing_secret=args.signing_secret)
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed_demo:
        state.seed_demo()
    trio.run(_run_cli, state, args.host, args.port)
    return 0


async def _run_cli(state: SlackState, host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial(serve, state, host=host, port=port))
            print(f"slack emulator listening on {url}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    raise SystemExit(main())
