"""The SSRF guard: which addresses are refused, and that a refused one gets no packet.

Nothing here sends traffic anywhere but 127.0.0.1 with private targets allowed; the
"no packet" proofs listen on 127.0.0.1 and check that no connection arrived.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
import trio

from actors import ssrf

TIMEOUT = 15


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_refusal_names_the_kind_of_address(address: str, reason: str | None) -> None:
    assert ssrf.refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("gopher://example.com/", "must start with http:// or https://"),
        ("http://user:pw@example.com/", "must not hold credentials"),
        ("http:///path", "has no host name"),
        ("http://" + "a" * 3000 + ".com/", "is longer than 2048 characters"),
    ],
)
def test_parse_url_refuses_what_is_not_a_plain_http_url(url: str, message: str) -> None:
    with pytest.raises(ssrf.TargetRefused, match=message):
        ssrf.parse_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "points to a loopback address: 127.0.0.1"),
        ("http://10.0.0.1/", "points to a private address: 10.0.0.1"),
        ("http://169.254.169.254/latest/", "points to a link-local address: 169.254.169.254"),
        ("http://[::1]:8080/", "points to a loopback address: ::1"),
        ("https://localhost/", r"points to a loopback address: localhost \("),
    ],
)
async def test_check_url_refuses_private_targets(url: str, message: str) -> None:
    with trio.fail_after(TIMEOUT):
        with pytest.raises(ssrf.TargetRefused, match=message):
            await ssrf.check_url(url, allow_private=False)
        # Allowed by the setting: only the form is checked, nothing is resolved.
        parsed = await ssrf.check_url(url, allow_private=True)
    assert parsed.scheme in ("http", "https")


async def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    with trio.fail_after(TIMEOUT):
        addresses = await ssrf.resolve("localhost", 80)
    assert "127.0.0.1" in addresses
    with pytest.raises(ssrf.TargetRefused, match="loopback"):
        ssrf.check_addresses("mixed.example", ["93.184.216.34", "127.0.0.1"])
    ssrf.check_addresses("public.example", ["93.184.216.34", "2606:4700:4700::1111"])


def _listener() -> tuple[socket.socket, int]:
    """A non-blocking stdlib listener on 127.0.0.1 (it can be checked without waiting)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock, int(sock.getsockname()[1])


def _pending_connection(sock: socket.socket) -> bool:
    """Whether a TCP connection reached the listener (the kernel completes the handshake
    before the client's connect returns, so a connection made is already queued)."""
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_the_guarded_client_refuses_before_connecting(host: str) -> None:
    with trio.fail_after(TIMEOUT):
        sock, port = _listener()
        with sock:
            async with ssrf.guarded_client(allow_private=False, timeout=5) as client:
                with pytest.raises(ssrf.TargetRefused, match="loopback"):
                    await client.post(f"http://{host}:{port}/hook", content=b"{}")
            reached = _pending_connection(sock)
    assert reached is False


async def test_the_guarded_client_connects_when_private_targets_are_allowed() -> None:
    with trio.fail_after(TIMEOUT):
        plain, port = _listener()
        with trio.socket.from_stdlib_socket(plain) as sock:
            async with (
                ssrf.guarded_client(allow_private=True, timeout=5) as client,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(
                    lambda: client.post(f"http://localhost:{port}/hook", content=b"{}")
                )
                conn, _ = await sock.accept()  # the request got through to the listener
                nursery.cancel_scope.cancel()
            conn.close()
    assert port > 0
