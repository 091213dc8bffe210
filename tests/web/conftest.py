"""Browser tests: Playwright (sync API) driving Debian's chromium, headless.

Why threads: Playwright's sync API runs its own event loop (greenlets on asyncio) and
cannot share one with trio, while our tests run under pytest-trio. So these tests are
plain synchronous functions (pytest-trio leaves them alone) and the server runs in a
background thread with its own trio loop (:class:`ServerThread`). The test thread
reaches into that loop only through ``trio.from_thread`` (seeding data, cutting sockets).
Every wait is bounded: Playwright's default timeout is set per context, and the server
thread must start and stop within ``THREAD_TIMEOUT``.

Chromium: ``/usr/bin/chromium`` from Debian (``scripts/test`` installs it when missing).
Without it every browser test fails with a message saying so; none is skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

import server.main
from protocol.frames import Participant
from server.app import SwitchboardApp
from server.config import Settings
from server.main import Running
from tests.helpers import PASSWORD, Seed
from tests.web.hooks import HookWorld, Receiver

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
#: The flags the issue asks for: no sandbox (containers), no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Real seconds for the server thread to start or stop.
THREAD_TIMEOUT = 30
#: Playwright's timeout for every action and expectation, in ms.
ACTION_TIMEOUT_MS = 10_000

_DISCONNECT = {"type": "websocket.disconnect", "code": 1012}


class NetworkSwitch:
    """ASGI middleware that cuts the attendees' websockets from the server side.

    Attendee sockets are the ones without the console's session cookie (attendee pages
    run in their own browser context). ``cut()`` closes every live one with 1012 (the
    session sees a disconnect, the browser a close) and refuses new ones until
    ``restore()``: the same as a network outage between attendee and server. It sits in
    front of the real app: :class:`ServerThread` runs the real ``server.main.serve`` with
    ``SwitchboardApp`` replaced by :meth:`app_class` while the server starts.
    """

    def __init__(self) -> None:
        self.blocked = False
        self._cut = trio.Event()
        #: Attendee sockets closed by cut() and handshakes refused while cut.
        self.closed = 0
        self.refused = 0

    def app_class(self) -> type[SwitchboardApp]:
        """The server's ASGI app with this switch in front of the attendees' websockets."""
        switch = self

        class SwitchableApp(SwitchboardApp):
            async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
                await switch.handle(super().__call__, scope, receive, send)

        return SwitchableApp

    async def handle(
        self, app: Callable[..., Awaitable[None]], scope: dict[str, Any], receive: Any, send: Any
    ) -> None:
        if scope["type"] != "websocket" or not self._attendee(scope):
            await app(scope, receive, send)
            return
        if self.blocked:
            await receive()  # websocket.connect
            self.refused += 1
            await send({"type": "websocket.close", "code": 1013})
            return
        await app(scope, *self._cuttable(receive, send))

    @staticmethod
    def _attendee(scope: dict[str, Any]) -> bool:
        cookie = b"".join(v for k, v in scope.get("headers", ()) if k.lower() == b"cookie")
        return b"sb_session=" not in cookie

    def _cuttable(self, receive: Any, send: Any) -> tuple[Any, Any]:
        cut = self._cut
        closed = False

        async def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                self.closed += 1
                await send({"type": "websocket.close", "code": 1012, "reason": "cut by test"})

        async def cut_receive() -> dict[str, Any]:
            if closed:
                return _DISCONNECT
            result: dict[str, Any] = _DISCONNECT
            async with trio.open_nursery() as nursery:

                async def real() -> None:
                    nonlocal result
                    result = await receive()
                    nursery.cancel_scope.cancel()

                async def watch() -> None:
                    await cut.wait()
                    await close()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(real)
                nursery.start_soon(watch)
            return _DISCONNECT if closed else result

        async def guarded_send(message: dict[str, Any]) -> None:
            if not closed:  # after the cut the socket is gone; drop late writes
                await send(message)

        return cut_receive, guarded_send

    def cut(self) -> None:
        self.blocked = True
        self._cut.set()
        self._cut = trio.Event()

    def restore(self) -> None:
        self.blocked = False


class ServerThread:
    """A Switchboard server on 127.0.0.1:0 running in its own thread and trio loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.switch = NetworkSwitch()
        self.running: Running | None = None
        self.seed: Seed | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="switchboard-server", daemon=True)

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    def start(self) -> ServerThread:
        # The real serve(), with the switch in front of its app: patched only until the
        # server has built its app.
        patch = pytest.MonkeyPatch()
        patch.setattr(server.main, "SwitchboardApp", self.switch.app_class())
        try:
            self._thread.start()
            started = self._ready.wait(THREAD_TIMEOUT)
        finally:
            patch.undo()
        if not started or self.running is None:
            raise RuntimeError(f"the server thread did not start: {self._error!r}")
        self.seed = Seed(self.running)
        return self

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except Exception as exc:  # reported to the test thread by start()/stop()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope
            self.running = await nursery.start(server.main.serve, self.settings)
            self._ready.set()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await fn(*args, **kwargs)`` in the server's trio loop."""
        return trio.from_thread.run(functools.partial(fn, *args, **kwargs), trio_token=self._token)

    def call_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        if self._cancel is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
        self._thread.join(THREAD_TIMEOUT)
        assert not self._thread.is_alive(), "the server thread did not stop"
        if self._error is not None:
            raise self._error


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium. Install it "
            "with `apt-get install chromium` (scripts/test does this when it can).",
            pytrace=False,
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


def live_settings(tmp_path: Path, **extra: Any) -> Settings:
    """A browser test's server: loopback, a port picked for it, no fsync, generous rate
    limits (a page makes many requests at once), plus ``extra``."""
    return Settings.from_mapping(
        {
            "host": "127.0.0.1",
            "port": 0,
            "data_dir": tmp_path / "data",
            "sqlite_synchronous": "NORMAL",
            "rate_per_second": 10000,
            "rate_burst": 10000,
            **extra,
        }
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ServerThread]:
    """A real server in a background thread (demo mode on, generous rate limits)."""
    server = ServerThread(live_settings(tmp_path, demo=True)).start()
    yield server
    server.stop()


def new_context(browser: Browser, **kwargs: Any) -> BrowserContext:
    kwargs.setdefault("viewport", {"width": 1440, "height": 900})
    context = browser.new_context(**kwargs)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context


@dataclasses.dataclass
class World:
    """A seeded server: an admin, an agent, a webinar and one attendee."""

    live: ServerThread
    admin: dict[str, Any]
    agent: dict[str, Any]
    context: dict[str, Any]
    attendee: dict[str, Any]

    @property
    def url(self) -> str:
        return self.live.url


@pytest.fixture
def world(live: ServerThread) -> World:
    seed = live.seed
    assert seed is not None
    admin = live.call(seed.user, "maria@example.com", "admin", "Maria Admin")
    agent = live.call(seed.user, "alex@example.com", "agent", "Alex Rivera")
    context = live.call(
        seed.context,
        "Launch day: what's new in Acme Cloud",
        webinar="Launch day: what's new in Acme Cloud",
        session_type="live",
        starts_at="2025-03-01T14:00:00Z",
    )
    attendee = live.call(seed.attendee, context["id"], "Ann Lee", "ann@example.com")
    return World(live, admin, agent, context, attendee)


def login(context: BrowserContext, url: str, email: str) -> None:
    """Log a browser context in to the console (sets the session cookie)."""
    response = context.request.post(
        f"{url}/api/v1/auth/login", data={"email": email, "password": PASSWORD}
    )
    assert response.ok, response.text()


def open_host_page(context: BrowserContext, server: str, token: str) -> Any:
    """A page on another origin (and site) that embeds the widget with one script tag.

    The host page is served (by Playwright) from ``localhost`` while the server is
    ``127.0.0.1``: different origins and sites. Chromium's Local Network Access asks the
    user before a page loads scripts from loopback; in production host page and server
    are both public, here both are local, so the context grants that permission.
    """
    context.grant_permissions(["local-network-access"])
    host = server.replace("127.0.0.1", "localhost") + "/host-page"
    html = (
        "<!doctype html><html><head><title>Host</title>"
        f'<script src="{server}/widget.js" data-token="{token}" data-title="Questions?" defer>'
        "</script></head><body><h1>A host page</h1></body></html>"
    )
    context.route(
        host, lambda route: route.fulfill(status=200, content_type="text/html", body=html)
    )
    page = context.new_page()
    page.goto(host)
    return page


@pytest.fixture
def hook_world(tmp_path: Path) -> Iterator[HookWorld]:
    """A server that may call loopback webhooks, a receiver, an admin and an attendee."""
    receiver = Receiver().start()
    live = ServerThread(live_settings(tmp_path, webhook_allow_private_targets=True)).start()
    try:
        seed = live.seed
        assert seed is not None
        live.call(seed.user, "maria@example.com", "admin", "Maria Admin")
        context = live.call(seed.context, "Launch Day", webinar="Launch Day")
        attendee = live.call(seed.attendee, context["id"], "Ann Lee", "ann@example.com")
        contact = Participant("contact", attendee["contact"]["id"], "Ann Lee")
        yield HookWorld(live, receiver, attendee["conversation"], contact)
    finally:
        live.stop()
        receiver.stop()
