"""The SSRF guard of outgoing webhooks: which URLs and addresses Switchboard may call.

An admin types a webhook URL; the server then sends requests to it from inside the
network it runs in. Without a guard that is a way to reach what only the server can
reach: ``http://169.254.169.254/`` (cloud metadata with credentials), ``localhost``
admin ports, the office LAN. So only ``http`` and ``https`` are allowed, and every
address the host resolves to must be globally routable: private, loopback, link-local,
multicast, reserved and unspecified addresses (IPv4 and IPv6, IPv4-mapped IPv6 too) are
refused, unless the setting ``webhook_allow_private_targets`` is on (tests and
deployments that call their own LAN).

The check runs twice: when an endpoint is saved (:func:`check_url`, a clear 400) and at
every connection the dispatcher opens (:class:`GuardedBackend`). The second one is the
real guard: DNS can change between the save and the delivery (DNS rebinding), so the
backend resolves the name itself, checks every address, and connects to the checked
address, never to the name; no packet reaches a refused address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import typing
from collections.abc import Iterable

import httpcore
import httpx
import trio

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
#: Longest URL accepted (browsers and proxies commonly stop around 2-8 KiB).
MAX_URL = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL, or an address its host resolves to, may not be called; the message says
    why in plain words (it is shown in the API answer and the delivery log)."""


def refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be called (``"loopback"``...), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    # Most specific first: 127.0.0.1 and 169.254.x are "private" in ipaddress too.
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_url(url: str) -> httpx.URL:
    """Check the form of a webhook URL (no network).

    Raises:
        TargetRefused: not http(s), no host, credentials in the URL, too long.
    """
    if len(url) > MAX_URL:
        raise TargetRefused(f"is longer than {MAX_URL} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"is not a valid URL ({exc})") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise TargetRefused("must start with http:// or https://")
    if not parsed.host:
        raise TargetRefused("has no host name")
    if parsed.userinfo:
        raise TargetRefused("must not hold credentials: use the authorization field")
    return parsed


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself).

    Raises:
        OSError: the name does not resolve (``socket.gaierror``).
    """
    literal = _literal(host)
    if literal is not None:
        return [str(literal)]
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuse when any address is not public (one bad address is enough: a client may
    pick any of them).

    Raises:
        TargetRefused: naming the address and its kind.
    """
    literal = _literal(host)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = refusal(ip)
        if reason is not None:
            shown = host if literal == ip else f"{host} ({address})"
            raise TargetRefused(f"points to a {reason} address: {shown}")


async def allowed_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``, all checked.

    Raises:
        TargetRefused: an address is not public and private targets are not allowed.
        OSError: the name does not resolve.
    """
    addresses = await resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no addresses")
    if not allow_private:
        check_addresses(host, addresses)
    return addresses


async def check_url(url: str, *, allow_private: bool) -> httpx.URL:
    """Check a webhook URL when it is saved: its form, and (unless private targets are
    allowed) that its host resolves to public addresses only.

    Raises:
        TargetRefused: with the reason in plain words.
    """
    parsed = parse_url(url)
    if allow_private:
        return parsed
    try:
        await allowed_addresses(parsed.host, parsed.port or 0, allow_private=False)
    except OSError as exc:
        raise TargetRefused(f"host {parsed.host} does not resolve ({exc})") from None
    return parsed


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend behind the guard: resolve, check, connect to the address.

    TLS still verifies the certificate against the URL's host name: httpcore passes the
    origin's host to ``start_tls`` whatever address the socket was opened to.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await allowed_addresses(host, port, allow_private=self.allow_private)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(*, allow_private: bool, timeout: float) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through :class:`GuardedBackend`.

    No redirects are followed (a redirect could point anywhere) and no proxy or other
    setting is taken from the environment (a proxy would connect in our place).
    """
    transport = httpx.AsyncHTTPTransport(retries=0, trust_env=False)
    # httpx builds its connection pool without a way to pass a network backend; replace
    # the pool with one that uses the guard (same TLS defaults as httpx's own).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private=allow_private),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
