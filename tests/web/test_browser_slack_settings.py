"""The console's Slack pages in a real browser, against the Slack emulator.

The emulator runs in its own thread and trio loop (like the server, see conftest's
:class:`ServerThread`); the server under test is configured with ``slack_api_url``
pointing at it and no token, so the admin connects Slack through the page. Every wait
is bounded: Playwright's timeouts in the browser, ``trio.fail_after`` in the emulator's
loop.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import THREAD_TIMEOUT, ServerThread, live_settings, login, new_context

SCRIPTS = str(Path(__file__).resolve().parents[2] / "scripts")
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

import slack_emulator  # noqa: E402

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)

T = TypeVar("T")

TOKEN = "xoxb-browser-test-token"
SECRET = "browser-signing-secret"
#: Seconds the emulator-side waits may take (the bridge posts within a second or two).
WAIT = 15


class EmulatorThread:
    """The Slack emulator on 127.0.0.1:0 in its own thread and trio loop."""

    def __init__(self) -> None:
        self.state: Any = None
        self.url = ""
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="slack-emulator", daemon=True)

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(THREAD_TIMEOUT) or not self.url:
            raise RuntimeError(f"the emulator thread did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except Exception as exc:  # reported by start()/stop()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        # Created in this loop: the state's wake-ups are trio objects.
        self.state = slack_emulator.SlackState(token=TOKEN)
        self.state.add_user("mia", "mia@example.com", real_name="Mia")
        self.state.add_channel("attendees", members=["mia"])
        self.state.add_channel("closed", members=["mia"], bot_member=False)
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope
            self.url = await nursery.start(slack_emulator.serve, self.state)
            self._ready.set()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return trio.from_thread.run(functools.partial(fn, *args), trio_token=self._token)

    def call_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (at most ``WAIT`` s) until ``predicate()`` holds in the emulator."""

        async def wait() -> None:
            with trio.fail_after(WAIT):
                await self.state.wait_until(predicate)

        self.call(wait)

    def control(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the emulator's control API (``/_emulator/<route>``)."""
        base = self.url.removesuffix("/api/")
        answer = httpx.post(f"{base}/_emulator/{route}", json=body, timeout=WAIT)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def stop(self) -> None:
        if self._cancel is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
        self._thread.join(THREAD_TIMEOUT)
        assert not self._thread.is_alive(), "the emulator thread did not stop"
        if self._error is not None:
            raise self._error


class SlackWorld:
    def __init__(self, emulator: EmulatorThread, live: ServerThread) -> None:
        self.emulator = emulator
        self.live = live
        seed = live.seed
        assert seed is not None
        self.seed = seed
        self.admin = live.call(seed.user, "maria@example.com", "admin", "Maria Admin")
        self.agent = live.call(seed.user, "alex@example.com", "agent", "Alex Rivera")
        self.context = live.call(
            seed.context,
            "Launch Day",
            webinar="Launch Day",
            session_type="live",
            starts_at="2025-03-01T14:00:00Z",
        )

    @property
    def url(self) -> str:
        return self.live.url

    def channel_id(self, name: str) -> str:
        channel = self.emulator.call_sync(self.emulator.state.find_channel, name)
        return str(channel.id)


@pytest.fixture
def slack_world(tmp_path: Path) -> Iterator[SlackWorld]:
    emulator = EmulatorThread().start()
    settings = live_settings(
        tmp_path, slack_api_url=emulator.url, slack_post_interval=0.01, slack_timeout=5
    )
    live = ServerThread(settings).start()
    try:
        yield SlackWorld(emulator, live)
    finally:
        live.stop()
        emulator.stop()


def admin_page(browser: Browser, world: SlackWorld, path: str) -> Page:
    context = new_context(browser)
    login(context, world.url, "maria@example.com")
    page = context.new_page()
    page.goto(f"{world.url}{path}")
    return page


def test_admin_connects_slack_and_picks_a_channel(
    browser: Browser, slack_world: SlackWorld
) -> None:
    world = slack_world
    page = admin_page(browser, world, "/console/settings/slack")
    form = page.get_by_role("form", name="Slack settings")
    expect(form).to_contain_text("Not set: Slack is off")
    expect(form).to_contain_text("Save a bot token first")
    expect(form.get_by_label("Slack API base URL")).to_have_value(world.emulator.url)

    # A wrong token: saved, then the channel list says what Slack answered.
    form.get_by_label("Bot token").fill("xoxb-wrong-token-000")
    form.get_by_role("button", name="Save Slack settings").click()
    expect(form).to_contain_text("Slack answered invalid_auth")

    form.get_by_label("Bot token").fill(TOKEN)
    form.get_by_label("Signing secret").fill(SECRET)
    form.get_by_role("button", name="Save Slack settings").click()
    expect(form).to_contain_text("Current token: xoxb-…oken")
    channel = form.get_by_label("Channel", exact=True)
    expect(channel.locator("option")).to_have_text(
        ["Choose a channel…", "#attendees", "#closed (app not added)"]
    )

    # A validation error of the API appears next to the field it names.
    form.get_by_label("Separate channel per webinar").check()
    form.get_by_label("Channel prefix").fill("Bad Prefix")
    form.get_by_role("button", name="Save Slack settings").click()
    prefix_error = page.locator("[data-field=channel_prefix] .field-error")
    expect(prefix_error).to_contain_text("channel_prefix may hold only lowercase letters")
    expect(form.get_by_label("Channel prefix")).to_have_attribute("aria-invalid", "")

    form.get_by_label("Separate channel per webinar").uncheck()
    channel.select_option(label="#attendees")
    form.get_by_label("Only surface attendees who start chatting").check()
    form.get_by_label("Replies appear as sent by").select_option("actual")
    form.get_by_label("Note prefix").fill("internal:")
    form.get_by_role("button", name="Save Slack settings").click()
    expect(page.locator(".toast--success").last).to_have_text("Saved the Slack settings.")
    expect(form.get_by_label("Channel", exact=True)).to_have_value(world.channel_id("attendees"))

    view = page.context.request.get(f"{world.url}/api/v1/integrations/slack").json()
    settings = view["settings"]
    assert settings["bot_token"] == "xoxb-…oken"
    assert TOKEN not in str(view)
    assert view["signing_secret_set"] is True
    assert settings["channel"] == world.channel_id("attendees")
    assert settings["channel_per_webinar"] is False
    assert settings["first_message_only"] is True
    assert settings["reply_as"] == "actual"
    assert settings["note_prefix"] == "internal:"
    assert settings["api_url"] == world.emulator.url

    # Per-webinar attribution.
    select = page.get_by_label("Reply attribution for Launch Day")
    expect(select).to_be_enabled()
    select.select_option("primary")
    expect(page.locator(".toast--success").last).to_contain_text("Launch Day: replies appear")
    answer = page.context.request.get(
        f"{world.url}/api/v1/contexts/{world.context['id']}/reply-as"
    ).json()
    assert answer["reply_as"] == "primary"
    page.context.close()


def test_not_in_channel_shows_the_fix_and_redrive_delivers_once(
    browser: Browser, slack_world: SlackWorld
) -> None:
    world = slack_world
    emulator = world.emulator
    page = admin_page(browser, world, "/console/settings/slack")
    form = page.get_by_role("form", name="Slack settings")
    form.get_by_label("Bot token").fill(TOKEN)
    form.get_by_role("button", name="Save Slack settings").click()
    form.get_by_label("Channel", exact=True).select_option(label="#closed (app not added)")
    form.get_by_role("button", name="Save Slack settings").click()
    expect(form).to_contain_text("The app is not in #closed")

    closed = world.channel_id("closed")
    attendee = world.live.call(world.seed.attendee, world.context["id"], "Ann Lee", "ann@x.org")
    emulator.wait_until(
        lambda: any(
            c.error == "not_in_channel" for c in emulator.state.calls_to("chat.postMessage")
        )
    )

    page.get_by_role("link", name="Slack activity").click()
    expect(page).to_have_url(f"{world.url}/console/settings/slack-activity")
    page.get_by_label("Errors only").check()
    rows = page.locator(".activity-row")
    # The log refreshes itself while open: the entry is written right after the call.
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("not_in_channel")
    expect(row).to_contain_text("chat.postMessage")
    expect(row.locator(".activity-hint")).to_contain_text("Integrations, Add apps")
    link = row.get_by_role("link", name=attendee["conversation"])
    expect(link).to_have_attribute("href", f"/console/conversations/{attendee['conversation']}")
    redrive = page.get_by_role("button", name="Re-drive held operations")
    expect(redrive).to_be_enabled()
    expect(page.locator(".held-note")).to_have_text("1 held operation waiting for a re-drive.")
    assert emulator.call_sync(emulator.state.history, closed) == []

    # The fix, as an admin would do it in Slack: add the app to the channel.
    emulator.control("members", {"channel": "closed", "users": ["U0BOT"]})
    redrive.click()
    expect(page.locator(".redrive-outcome")).to_contain_text("Released 1 held operation")
    emulator.wait_until(lambda: len(emulator.state.history(closed)) >= 1)
    expect(redrive).to_be_disabled()
    expect(page.locator(".held-note")).to_have_text("Nothing waits for a re-drive.")

    (parent,) = emulator.call_sync(emulator.state.history, closed)
    assert "Ann Lee" in parent.text
    calls = emulator.call_sync(emulator.state.calls_to, "chat.postMessage")
    posted = [c for c in calls if c.error is None]
    assert len(posted) == 1

    # Without the filter the log also shows the re-drive itself.
    page.get_by_label("Errors only").uncheck()
    expect(page.locator(".activity-row", has_text="redrive").first).to_contain_text(
        "re-drove 1 held operation"
    )
    page.context.close()


def test_an_agent_does_not_see_the_slack_settings(
    browser: Browser, slack_world: SlackWorld
) -> None:
    world = slack_world
    context = new_context(browser)
    login(context, world.url, "alex@example.com")
    page = context.new_page()
    page.goto(f"{world.url}/console/settings/slack")
    nav = page.get_by_role("navigation", name="Settings")
    expect(nav.get_by_role("link", name="Your profile")).to_be_visible()
    # Agents see their profile and (read-only) recipes; no admin section.
    expect(nav.get_by_role("link")).to_have_text(["Your profile", "Recipes"])
    expect(page.get_by_role("heading", level=2)).to_have_text("Your profile")
    expect(page.get_by_role("form", name="Slack settings")).to_have_count(0)
    page.goto(f"{world.url}/console/settings/slack-activity")
    expect(page.get_by_role("heading", level=2)).to_have_text("Your profile")
    assert context.request.get(f"{world.url}/api/v1/integrations/slack").status == 403
    assert re.search(r"Slack", nav.inner_text()) is None
    context.close()
