#!/usr/bin/env python3
"""A local SMTP server that records what it receives, for tests and the demo.

It speaks the small part of SMTP (RFC 5321) that mail clients such as ``smtplib`` use:
EHLO/HELO, optional AUTH PLAIN/LOGIN, MAIL FROM, RCPT TO, DATA (with dot-unstuffing),
RSET, NOOP, VRFY, HELP and QUIT, with a size limit. Nothing is relayed: every accepted
message is kept in a :class:`Sink` (envelope, raw bytes, parsed ``EmailMessage``) and
optionally written to a directory as ``.eml`` files. Written on trio sockets because
aiosmtpd is asyncio-only.

Run it standalone::

    python scripts/smtp_sink.py --port 0 --dir ./data/mail

or inside a test's nursery::

    sink = Sink()
    host, port = await nursery.start(smtp_sink.serve, sink)

Only loopback addresses are served.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.policy
import logging
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from functools import partial
from pathlib import Path

import trio

logger = logging.getLogger(__name__)

#: Largest message accepted by default; advertised as SIZE, bigger ones get 552.
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
#: RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF.
MAX_COMMAND_LINE = 512
#: RFC 5321 4.5.3.1.8 asks servers to take at least 100 recipients; more get 452.
MAX_RECIPIENTS = 100
#: RFC 5321 4.5.3.2 suggests a 5 minute server timeout while waiting for a command.
IDLE_TIMEOUT = 300.0
#: The name the sink greets with.
HOSTNAME = "switchboard-smtp-sink"
#: The sink binds to loopback only; it is a test tool, never a mail server.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: ``FROM:<addr> PARAMS`` / ``TO:<addr> PARAMS`` (brackets optional, as many servers allow).
PATH_RE = re.compile(r"^(FROM|TO):\s*(<[^>]*>|[^\s<>]+)\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope, the bytes as sent and the parsed message."""

    id: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    #: The message exactly as received (CRLF line ends), after dot-unstuffing.
    data: bytes
    #: ``data`` parsed with ``email.policy.default`` (line ends normalised to LF).
    message: EmailMessage
    peer: str
    helo: str
    auth_user: str | None = None

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"received {self.id} from=<{self.mail_from}> to={','.join(self.rcpt_to)} "
            f"size={len(self.data)} subject={self.subject!r}"
        )


@dataclass
class Sink:
    """Where received mail goes; tests await :meth:`wait_for`.

    Args:
        max_size: largest message accepted (bytes after dot-unstuffing).
        directory: if set, every message is also written there as ``<id>.eml``.
        credentials: if set, clients must AUTH with one of these user/password pairs.
        on_message: called with each accepted message (the CLI prints a summary).
    """

    max_size: int = DEFAULT_MAX_SIZE
    directory: Path | None = None
    credentials: dict[str, str] | None = None
    on_message: Callable[[ReceivedMail], None] | None = None
    messages: list[ReceivedMail] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    _reject: list[str] = field(default_factory=list)
    _count: int = 0
    _changed: trio.Event = field(default_factory=trio.Event)

    def next_id(self) -> str:
        """A fresh message id, unique for the sink's lifetime (also the .eml name)."""
        self._count += 1
        return f"{self._count:06d}"

    def reject_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the end of DATA of the next ``count`` messages with ``reply`` instead."""
        if not re.match(r"^[45]\d\d ", reply):
            raise ValueError("reply must start with a 4xx or 5xx code and a space")
        self._reject.extend([reply] * count)

    async def record(self, mail: ReceivedMail) -> str:
        """Keep an accepted message (or apply a queued rejection); returns the reply."""
        if self._reject:
            reply = self._reject.pop(0)
            self.rejections.append(reply)
            return reply
        self.messages.append(mail)
        if self.directory is not None:
            await trio.Path(self.directory, f"{mail.id}.eml").write_bytes(mail.data)
        if self.on_message is not None:
            self.on_message(mail)
        logger.info("%s", mail.summary())
        self._changed.set()
        self._changed = trio.Event()
        return f"250 2.0.0 Ok: queued as {mail.id}"

    async def wait_for(self, count: int) -> list[ReceivedMail]:
        """Return all messages once at least ``count`` have arrived."""
        while len(self.messages) < count:
            await self._changed.wait()
        return list(self.messages)

    def clear(self) -> None:
        """Forget received messages and queued rejections."""
        self.messages.clear()
        self.rejections.clear()
        self._reject.clear()


class _TooLong(Exception):
    """A line exceeded its limit; the rest of it was discarded."""


class _Lines:
    """Reads CRLF-terminated lines from a stream, with a length limit and idle timeout."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def read(self, limit: int) -> bytes | None:
        """Next line including its line end; None at EOF.

        Raises:
            _TooLong: the line was longer than ``limit`` (it has been consumed).
            trio.TooSlowError: nothing arrived for IDLE_TIMEOUT seconds.
        """
        too_long = False
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                if too_long or len(line) > limit:
                    raise _TooLong
                return line
            if len(self.buffer) > limit:
                too_long = True
                self.buffer.clear()
            with trio.fail_after(IDLE_TIMEOUT):
                data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data


@dataclass
class _Session:
    """One SMTP connection's state: greeting, authentication, current transaction."""

    sink: Sink
    stream: trio.abc.Stream
    peer: str
    lines: _Lines
    helo: str | None = None
    auth_user: str | None = None
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)

    async def reply(self, text: str) -> None:
        await self.stream.send_all(text.encode() + b"\r\n")

    def reset(self) -> None:
        self.mail_from, self.rcpt_to = None, []

    async def run(self) -> None:
        await self.reply(f"220 {HOSTNAME} ESMTP ready")
        while True:
            try:
                raw = await self.lines.read(MAX_COMMAND_LINE)
            except _TooLong:
                await self.reply("500 5.5.2 Line too long")
                continue
            if raw is None:
                return
            verb, _, arg = raw.decode("utf-8", "replace").strip().partition(" ")
            handler = getattr(self, f"do_{verb.lower()}", None) if verb.isalpha() else None
            if handler is None:
                await self.reply("500 5.5.2 Error: command not recognized")
                continue
            if not await handler(arg.strip()):
                return

    async def do_ehlo(self, arg: str) -> bool:
        if not arg:
            await self.reply("501 5.5.4 Syntax: EHLO hostname")
            return True
        self.helo = arg
        self.reset()
        for line in (HOSTNAME, f"SIZE {self.sink.max_size}", "8BITMIME", "SMTPUTF8"):
            await self.reply(f"250-{line}")
        await self.reply("250 AUTH PLAIN LOGIN")
        return True

    async def do_helo(self, arg: str) -> bool:
        if not arg:
            await self.reply("501 5.5.4 Syntax: HELO hostname")
            return True
        self.helo = arg
        self.reset()
        await self.reply(f"250 {HOSTNAME}")
        return True

    async def do_auth(self, arg: str) -> bool:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if self.helo is None:
            await self.reply("503 5.5.1 Error: send HELO/EHLO first")
            return True
        if mechanism not in ("PLAIN", "LOGIN"):
            await self.reply("504 5.5.4 Unrecognized authentication type")
            return True
        try:
            if mechanism == "PLAIN":
                token = initial or await self._challenge("")
                _, user, password = _b64(token).split("\0", 2)
            else:
                user = _b64(initial) if initial else _b64(await self._challenge("VXNlcm5hbWU6"))
                password = _b64(await self._challenge("UGFzc3dvcmQ6"))
        except (ValueError, UnicodeDecodeError, _TooLong):
            await self.reply("501 5.5.2 Cannot decode response")
            return True
        creds = self.sink.credentials
        if creds is not None and creds.get(user) != password:
            await self.reply("535 5.7.8 Authentication credentials invalid")
            return True
        self.auth_user = user
        await self.reply("235 2.7.0 Authentication successful")
        return True

    async def _challenge(self, prompt: str) -> str:
        await self.reply(f"334 {prompt}")  # an empty challenge is "334 " (RFC 4954)
        line = await self.lines.read(MAX_COMMAND_LINE)
        if line is None or line.strip() == b"*":
            raise ValueError("authentication cancelled")
        return line.decode().strip()

    async def do_mail(self, arg: str) -> bool:
        match = PATH_RE.match(arg)
        if self.helo is None:
            await self.reply("503 5.5.1 Error: send HELO/EHLO first")
        elif self.sink.credentials is not None and self.auth_user is None:
            await self.reply("530 5.7.0 Authentication required")
        elif self.mail_from is not None:
            await self.reply("503 5.5.1 Error: nested MAIL command")
        elif match is None or match.group(1).upper() != "FROM":
            await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        elif _declared_size(match.group(3)) > self.sink.max_size:
            await self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
        else:
            self.mail_from = match.group(2).strip("<>")
            await self.reply("250 2.1.0 Ok")
        return True

    async def do_rcpt(self, arg: str) -> bool:
        match = PATH_RE.match(arg)
        if self.mail_from is None:
            await self.reply("503 5.5.1 Error: need MAIL command")
        elif match is None or match.group(1).upper() != "TO" or not match.group(2).strip("<>"):
            await self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        elif len(self.rcpt_to) >= MAX_RECIPIENTS:
            await self.reply("452 4.5.3 Error: too many recipients")
        else:
            self.rcpt_to.append(match.group(2).strip("<>"))
            await self.reply("250 2.1.5 Ok")
        return True

    async def do_data(self, arg: str) -> bool:
        if arg:
            await self.reply("501 5.5.4 Syntax: DATA")
            return True
        if self.mail_from is None or not self.rcpt_to:
            await self.reply("503 5.5.1 Error: need RCPT command")
            return True
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        received = await self._read_data()
        if received is None:
            return False
        data, overflow = received
        if overflow:
            await self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
        else:
            mail = ReceivedMail(
                id=self.sink.next_id(),
                mail_from=self.mail_from,
                rcpt_to=tuple(self.rcpt_to),
                data=data,
                message=_parse(data),
                peer=self.peer,
                helo=self.helo or "",
                auth_user=self.auth_user,
            )
            await self.reply(await self.sink.record(mail))
        self.reset()
        return True

    async def _read_data(self) -> tuple[bytes, bool] | None:
        """Read DATA up to the lone dot, unstuffing; None at EOF.

        Returns (data, overflow): past max_size the rest is read and dropped, so the
        client still gets its 552 answer at the end instead of a broken connection.
        """
        chunks: list[bytes] = []
        size, overflow = 0, False
        while True:
            try:
                line = await self.lines.read(self.sink.max_size + 2)
            except _TooLong:
                overflow = True
                continue
            if line is None:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(chunks), overflow
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            overflow = overflow or size > self.sink.max_size
            if not overflow:
                chunks.append(line)

    async def do_rset(self, arg: str) -> bool:
        self.reset()
        await self.reply("250 2.0.0 Ok")
        return True

    async def do_noop(self, arg: str) -> bool:
        await self.reply("250 2.0.0 Ok")
        return True

    async def do_vrfy(self, arg: str) -> bool:
        await self.reply("252 2.0.0 Cannot VRFY user, but will accept message")
        return True

    async def do_help(self, arg: str) -> bool:
        await self.reply("214 2.0.0 EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT")
        return True

    async def do_quit(self, arg: str) -> bool:
        await self.reply("221 2.0.0 Bye")
        return False


def _parse(data: bytes) -> EmailMessage:
    """Parse with Python's own line ends, so ``get_content()`` has no stray CRs."""
    return BytesParser(policy=email.policy.default).parsebytes(data.replace(b"\r\n", b"\n"))


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode()
    except binascii.Error as exc:
        raise ValueError("bad base64") from exc


def _declared_size(params: str) -> int:
    for param in params.split():
        key, _, value = param.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


async def handle_connection(sink: Sink, stream: trio.SocketStream) -> None:
    """Run one SMTP session; network errors and idle timeouts just end it."""
    peer = str(stream.socket.getpeername()[:2])
    session = _Session(sink, stream, peer, _Lines(stream))
    async with stream:
        try:
            await session.run()
        except trio.TooSlowError:
            try:
                await session.reply("421 4.4.2 Idle timeout, closing connection")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            logger.info("smtp client %s went away", peer)


async def serve(
    sink: Sink,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept SMTP connections until cancelled; reports the bound (host, port).

    Raises:
        ValueError: ``host`` is not a loopback address.
    """
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the SMTP sink binds to loopback only, not {host!r}")
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    logger.info("smtp sink listening on %s:%d", bound_host, bound_port)
    task_status.started((bound_host, bound_port))
    await trio.serve_listeners(partial(handle_connection, sink), listeners)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: serve until SIGINT/SIGTERM, one line per message."""
    parser = argparse.ArgumentParser(description="Local SMTP sink for tests and the demo.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--dir", type=Path, help="also write each message here as .eml")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, help="bytes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.host not in LOOPBACK_HOSTS:
        parser.error("--host must be a loopback address")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    sink = Sink(max_size=args.max_size, directory=args.dir, on_message=_print_summary)
    trio.run(_run_cli, sink, args.host, args.port)
    return 0


def _print_summary(mail: ReceivedMail) -> None:
    print(mail.summary(), flush=True)


async def _run_cli(sink: Sink, host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            bound_host, bound_port = await nursery.start(partial(serve, sink, host=host, port=port))
            print(f"smtp sink listening on {bound_host}:{bound_port}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    raise SystemExit(main())
