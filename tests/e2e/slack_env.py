"""A real Switchboard server wired to the Slack emulator and the SMTP sink, all in-process on
127.0.0.1 with port 0 (no test module: the Slack end-to-end tests share it).

The workspace: users mia (primary moderator), sam (moderator) and olga (staff, not a
moderator) exist in Slack and in Switchboard with the same emails; channel #attendees
holds the bot and all three. The webinar "Launch Day" (live, starting 2025-03-01 14:00
UTC) is moderated by mia and sam.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from actors import contexts
from protocol.frames import MessageFrame, ServerFrame
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Client, Seed

SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

import slack_emulator  # noqa: E402
import smtp_sink  # noqa: E402

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
STARTS_AT = "2025-03-01T14:00:00Z"


class Env:
    """Emulator + sink + one server at a time (stop and start it on the same data dir)."""

    def __init__(
        self, nursery: trio.Nursery, tmp_path: Path, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.nursery = nursery
        self.data_dir = tmp_path / "data"
        self.slack = (
            slack_emulator.SlackState(token=TOKEN)
            if clock is None
            else slack_emulator.SlackState(token=TOKEN, clock=clock)
        )
        self.sink = smtp_sink.Sink()
        self.slack_url = ""
        self.smtp_port = 0
        self.channel = ""
        self.running: Running | None = None
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()
        self.users: dict[str, dict[str, Any]] = {}
        self.admin_token = ""
        self.context: dict[str, Any] = {}

    async def start_tools(self) -> None:
        self.slack_url = await self.nursery.start(slack_emulator.serve, self.slack)
        _host, self.smtp_port = await self.nursery.start(smtp_sink.serve, self.sink)
        for name in ("mia", "sam", "olga"):
            self.slack.add_user(name, f"{name}@example.com", real_name=name.title())
        self.channel = self.slack.add_channel("attendees", members=["mia", "sam", "olga"]).id

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "port": 0,
            "host": "127.0.0.1",
            "data_dir": self.data_dir,
            "sqlite_synchronous": "NORMAL",
            "rate_per_second": 10000,
            "rate_burst": 10000,
            "slack_api_url": self.slack_url,
            "slack_bot_token": TOKEN,
            "slack_signing_secret": SECRET,
            "slack_channel": self.channel,
            "slack_post_interval": 0.01,
            "slack_timeout": 5,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port,
            "smtp_starttls": False,
            "smtp_from": "chat@example.com",
        }
        values.update(overrides)
        return Settings.from_mapping(values)

    async def start_server(self, **overrides: Any) -> Running:
        settings = self.settings(**overrides)
        self._stopped = trio.Event()
        running: Running = await self.nursery.start(self._serve, settings)
        self.running = running
        self.slack.configure(request_url=running.url + "/slack/events", signing_secret=SECRET)
        return running

    async def _serve(self, settings: Settings, *, task_status: trio.TaskStatus[Running]) -> None:
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                await serve(settings, task_status=task_status)
        finally:
            self._stopped.set()

    async def stop_server(self, *, release_hangs: bool = False) -> None:
        """Stop the server (a Slack call in flight finishes first, unanswered by us)."""
        assert self._scope is not None
        self._scope.cancel()
        if release_hangs:
            self.slack.release_hangs()
        await self._stopped.wait()
        self.running = None

    def watch_hangs(self) -> trio.Event:
        """An event set when a ``hang`` fault starts holding a Web API call."""
        hung = trio.Event()
        original = self.slack.hang

        async def hang(seconds: float) -> None:
            hung.set()
            await original(seconds)

        self.slack.hang = hang  # type: ignore[method-assign]
        return hung

    @property
    def seed(self) -> Seed:
        assert self.running is not None
        return Seed(self.running)

    async def seed_people(self, title: str = "Launch Day", **data: Any) -> dict[str, Any]:
        """Staff users mia, sam, olga (admin), an admin token, and the webinar context."""
        seed = self.seed
        for name in ("mia", "sam", "olga"):
            role = "admin" if name == "olga" else "agent"
            self.users[name] = await seed.user(f"{name}@example.com", role, name.title())
        self.admin_token = await seed.api_token(self.users["olga"]["id"])
        self.context = await self.webinar(title, **data)
        return self.context

    async def webinar(self, title: str, **data: Any) -> dict[str, Any]:
        data.setdefault("session_type", "live")
        data.setdefault("starts_at", STARTS_AT)
        context: dict[str, Any] = await self.seed.store.write(
            functools.partial(
                contexts.create_context,
                kind="webinar",
                title=title,
                data={"webinar": title, **data},
                moderators=[self.users["mia"]["id"], self.users["sam"]["id"]],
                primary_moderator=self.users["mia"]["id"],
                external_id=None,
            )
        )
        return context

    async def attendee(
        self, name: str = "Ann", email: str | None = "ann@example.com", context: str | None = None
    ) -> dict[str, Any]:
        return await self.seed.attendee(context or self.context["id"], name=name, email=email)

    # -- waiting on Slack ----------------------------------------------------------------

    def top(self, channel: str | None = None) -> list[Any]:
        return self.slack.history(channel or self.channel)

    def thread(self, parent_ts: str, channel: str | None = None) -> list[Any]:
        return self.slack.history(channel or self.channel, parent_ts)[1:]

    async def until(self, predicate: Callable[[], Any]) -> None:
        """Wait until ``predicate()`` is truthy (checked after every emulator change)."""
        await self.slack.wait_until(lambda: bool(predicate()))

    async def parent_of(self, name: str, channel: str | None = None) -> Any:
        """Wait for the parent message of attendee ``name`` and return it."""

        def find() -> Any:
            for message in self.top(channel):
                if message.text.startswith(name) or f"{name} (" in message.text:
                    return message
            return None

        await self.until(find)
        return find()

    async def thread_texts(
        self, parent_ts: str, count: int, channel: str | None = None
    ) -> list[str]:
        """Wait until the thread has ``count`` replies; return their texts."""
        await self.until(lambda: len(self.thread(parent_ts, channel)) >= count)
        return [m.text for m in self.thread(parent_ts, channel)]


async def next_message(client: Client) -> MessageFrame:
    frame: ServerFrame
    frame, _ = await client.until(lambda f: isinstance(f, MessageFrame))
    assert isinstance(frame, MessageFrame)
    return frame
