"""The SMTP sink, driven by the stdlib ``smtplib`` client (in a thread) and raw sockets."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import smtp_sink
import trio
import trio.testing
from smtp_sink import Sink

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "smtp_sink.py"
T = TypeVar("T")


async def start(nursery: trio.Nursery, sink: Sink) -> tuple[str, int]:
    with trio.fail_after(5):
        address: tuple[str, int] = await nursery.start(smtp_sink.serve, sink)
    return address


async def with_smtp(address: tuple[str, int], work: Callable[[smtplib.SMTP], T]) -> T:
    """Open an smtplib connection in a thread, run ``work`` on it, then QUIT."""

    def run() -> T:
        with smtplib.SMTP(*address, timeout=5) as client:
            return work(client)

    return await trio.to_thread.run_sync(run)


def make_mail(subject: str = "Your chat link", body: str = "Hello there.\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Switchboard <noreply@switchboard.test>"
    msg["To"] = "ann@example.com, bob@example.com"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


async def test_records_envelope_raw_bytes_and_parsed_message(nursery: trio.Nursery) -> None:
    sink = Sink()
    address = await start(nursery, sink)
    with trio.fail_after(10):
        refused = await with_smtp(address, lambda c: c.send_message(make_mail("Grüße, Ann")))
        (mail,) = await sink.wait_for(1)
    assert refused == {}
    assert mail.mail_from == "noreply@switchboard.test"
    assert mail.rcpt_to == ("ann@example.com", "bob@example.com")
    assert mail.subject == "Grüße, Ann"
    assert mail.message.get_content() == "Hello there.\n"
    assert mail.data.startswith(b"From: Switchboard <noreply@switchboard.test>\r\n")
    assert mail.helo
    assert mail.auth_user is None
    assert mail.id == "000001"
    assert "subject='Grüße, Ann'" in mail.summary()


async def test_dot_stuffing_is_undone(nursery: trio.Nursery) -> None:
    sink = Sink()
    address = await start(nursery, sink)
    body = "first\n.hidden line\n..two dots\n.\nlast\n"
    with trio.fail_after(10):
        await with_smtp(address, lambda c: c.send_message(make_mail(body=body)))
        (mail,) = await sink.wait_for(1)
    assert mail.message.get_content() == body
    assert b"\r\n.hidden line\r\n..two dots\r\n.\r\nlast\r\n" in mail.data


async def test_several_messages_on_one_connection(nursery: trio.Nursery) -> None:
    sink = Sink()
    address = await start(nursery, sink)

    def send_two(client: smtplib.SMTP) -> None:
        client.sendmail("a@example.com", ["x@example.com"], b"Subject: one\r\n\r\n1\r\n")
        client.sendmail("b@example.com", ["y@example.com"], b"Subject: two\r\n\r\n2\r\n")

    with trio.fail_after(10):
        await with_smtp(address, send_two)
        mails = await sink.wait_for(2)
    assert [(m.mail_from, m.rcpt_to, m.subject) for m in mails] == [
        ("a@example.com", ("x@example.com",), "one"),
        ("b@example.com", ("y@example.com",), "two"),
    ]


async def test_size_limit(nursery: trio.Nursery) -> None:
    sink = Sink(max_size=1000)
    address = await start(nursery, sink)
    big = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 1 + (b"y" * 76 + b"\r\n") * 40

    def declared(client: smtplib.SMTP) -> tuple[str, Any]:
        client.ehlo()
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail("a@example.com", ["b@example.com"], big)  # MAIL ... SIZE=3254
        return client.esmtp_features["size"], info.value.smtp_code

    def undeclared(client: smtplib.SMTP) -> tuple[Any, Any]:
        client.ehlo()
        client.mail("a@example.com")
        client.rcpt("b@example.com")
        too_big = client.data(big)
        client.mail("a@example.com")  # the transaction was reset, the session still works
        client.rcpt("b@example.com")
        return too_big, client.data(b"Subject: small\r\n\r\nok\r\n")

    with trio.fail_after(10):
        size, refused_code = await with_smtp(address, declared)
        too_big, small = await with_smtp(address, undeclared)
        mails = await sink.wait_for(1)
    assert (size, refused_code) == ("1000", 552)
    assert too_big[0] == 552
    assert small[0] == 250
    assert [m.subject for m in mails] == ["small"]


async def test_dialogue_errors_and_simple_commands(nursery: trio.Nursery) -> None:
    sink = Sink()
    address = await start(nursery, sink)

    def dialogue(client: smtplib.SMTP) -> list[int]:
        codes = [client.docmd("MAIL", "FROM:<a@example.com>")[0]]  # before EHLO
        codes.append(client.ehlo()[0])
        codes.append(client.docmd("RCPT", "TO:<b@example.com>")[0])  # before MAIL
        codes.append(client.docmd("DATA")[0])  # before RCPT
        codes.append(client.docmd("MAIL", "FROM:<a@example.com>")[0])
        codes.append(client.docmd("MAIL", "FROM:<a@example.com>")[0])  # nested
        codes.append(client.docmd("RCPT", "TO:<>")[0])
        codes.append(client.docmd("RCPT", "TO:<b@example.com>")[0])
        codes.append(client.rset()[0])
        codes.append(client.docmd("DATA")[0])  # the reset dropped the transaction
        codes.append(client.noop()[0])
        codes.append(client.docmd("FROB")[0])
        codes.append(client.docmd("NOOP", "x" * 600)[0])  # line too long
        codes.append(client.verify("ann")[0])
        codes.append(client.docmd("AUTH", "CRAM-MD5")[0])
        return codes

    with trio.fail_after(10):
        codes = await with_smtp(address, dialogue)
    assert codes == [503, 250, 503, 503, 250, 503, 501, 250, 250, 503, 250, 500, 500, 252, 504]
    assert sink.messages == []


async def test_auth_plain_and_login(nursery: trio.Nursery) -> None:
    sink = Sink(credentials={"mailer": "s3cret"})
    address = await start(nursery, sink)

    def unauthenticated(client: smtplib.SMTP) -> int:
        client.ehlo()
        return client.docmd("MAIL", "FROM:<a@example.com>")[0]

    def wrong(client: smtplib.SMTP) -> int:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("mailer", "nope")
        return int(info.value.smtp_code)

    def plain(client: smtplib.SMTP) -> None:
        client.login("mailer", "s3cret")  # smtplib prefers PLAIN
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: plain\r\n\r\nx\r\n")

    def login(client: smtplib.SMTP) -> None:
        client.ehlo()
        client.user, client.password = "mailer", "s3cret"
        client.auth("LOGIN", client.auth_login)
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: login\r\n\r\nx\r\n")

    with trio.fail_after(10):
        required = await with_smtp(address, unauthenticated)
        refused = await with_smtp(address, wrong)
        await with_smtp(address, plain)
        await with_smtp(address, login)
        mails = await sink.wait_for(2)
    assert (required, refused) == (530, 535)
    assert [(m.subject, m.auth_user) for m in mails] == [("plain", "mailer"), ("login", "mailer")]


async def test_reject_next_then_accept(nursery: trio.Nursery) -> None:
    sink = Sink()
    sink.reject_next(1)
    address = await start(nursery, sink)

    def send(client: smtplib.SMTP) -> int:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.send_message(make_mail("first try"))
        client.send_message(make_mail("second try"))
        return int(info.value.smtp_code)

    with trio.fail_after(10):
        code = await with_smtp(address, send)
        mails = await sink.wait_for(1)
    assert code == 451
    assert [m.subject for m in mails] == ["second try"]
    assert sink.rejections == ["451 4.3.0 Try again later"]


async def test_writes_eml_files(nursery: trio.Nursery, tmp_path: Path) -> None:
    sink = Sink(directory=tmp_path)
    address = await start(nursery, sink)
    with trio.fail_after(10):
        await with_smtp(address, lambda c: c.send_message(make_mail()))
        (mail,) = await sink.wait_for(1)
    assert (tmp_path / "000001.eml").read_bytes() == mail.data


async def test_idle_connection_is_closed(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    address = await start(nursery, Sink())
    with trio.fail_after(600):
        stream = await trio.open_tcp_stream(*address)
        async with stream:
            received = b""
            while not received.endswith(b"Idle timeout, closing connection\r\n"):
                chunk = await stream.receive_some(1024)
                assert chunk, f"closed early after {received!r}"
                received += chunk
            assert await stream.receive_some(1024) == b""
    assert received.startswith(b"220 ")
    assert trio.current_time() == smtp_sink.IDLE_TIMEOUT


async def test_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await smtp_sink.serve(Sink(), host="0.0.0.0")
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Sink().reject_next(1, "250 fine")


@pytest.mark.slow
async def test_cli_prints_address_and_a_line_per_mail(tmp_path: Path) -> None:
    args = [sys.executable, str(SCRIPT), "--port", "0", "--dir", str(tmp_path / "mail")]
    with trio.fail_after(20):
        proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        lines = _LineReader(proc.stdout)
        try:
            first = await lines.next()
            assert first.startswith("smtp sink listening on 127.0.0.1:")
            host, port = first.rsplit(" ", 1)[1].split(":")
            await with_smtp((host, int(port)), lambda c: c.send_message(make_mail("cli check")))
            summary = await lines.next()
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.stdout.aclose()
    assert summary.startswith("received 000001 from=<noreply@switchboard.test>")
    assert "subject='cli check'" in summary
    assert (tmp_path / "mail" / "000001.eml").exists()


class _LineReader:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> str:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some(4096)
            assert chunk, f"process output ended: {self.buffer!r}"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().strip()


def test_helpers_are_deterministic() -> None:
    sink = Sink()
    assert [sink.next_id(), sink.next_id()] == ["000001", "000002"]
    assert partial(smtp_sink._declared_size, "SIZE=42 BODY=8BITMIME")() == 42
