"""The widget and the console in a real browser: live delivery both ways, notes stay
internal, typing and read receipts, reconnect after a cut, markup shown as text."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect

from actors.group_commands import DeleteMessage, EditMessage
from actors.records import StoredMessage
from protocol.frames import Participant
from tests.web.conftest import World, login, new_context, open_host_page

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def watch_errors(page: Page) -> list[str]:
    """Errors the page (and its frames) log: script errors, CSP violations, failed loads."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def open_widget(browser: Browser, world: World) -> tuple[Page, FrameLocator]:
    context = new_context(browser)
    page = open_host_page(context, world.url, world.attendee["token"])
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title='Questions?']")
    expect(frame.get_by_label("Message", exact=True)).to_be_editable()
    return page, frame


def open_console(browser: Browser, world: World, email: str = "alex@example.com") -> Page:
    context = new_context(browser)
    login(context, world.url, email)
    page = context.new_page()
    page.goto(f"{world.url}/console")
    expect(page.locator(".live-status")).to_have_text("Live")
    return page


def say(frame: Page | FrameLocator, text: str) -> None:
    box = frame.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def reply(console: Page, text: str) -> None:
    box = console.locator(".conv-composer textarea")
    box.fill(text)
    box.press("Enter")


def bodies(scope: Page | FrameLocator, selector: str) -> list[str]:
    return scope.locator(f"{selector} .msg .msg-body").all_inner_texts()


def stored_bodies(world: World) -> list[str]:
    conversation = world.attendee["conversation"]

    def read(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT body FROM messages WHERE conversation_id = ? AND kind != 'event' ORDER BY seq",
            (conversation,),
        ).fetchall()
        return [r[0] for r in rows]

    seed = world.live.seed
    assert seed is not None
    result: list[str] = world.live.call(seed.store.read, read)
    return result


def test_attendee_and_staff_talk_live_and_notes_stay_internal(
    browser: Browser, world: World
) -> None:
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    errors = watch_errors(console) + watch_errors(widget)

    say(frame, "Hi! Will the recording be available afterwards?")
    # Optimistic, then settled in place: exactly one copy.
    expect(frame.locator(".msg--out .msg-body")).to_have_text(
        ["Hi! Will the recording be available afterwards?"]
    )
    expect(frame.locator(".msg--pending")).to_have_count(0)

    row = console.locator(".conv-row", has_text="Ann Lee")
    expect(row).to_contain_text("Hi! Will the recording be available afterwards?")
    expect(row.locator(".unread-badge")).to_have_text("1")
    row.click()
    expect(console).to_have_url(re.compile(r"/console/c/cv_"))
    expect(console.locator(".conv-scroll .msg-body")).to_have_text(
        ["Hi! Will the recording be available afterwards?"]
    )
    # The staff read mark reaches the attendee as a receipt.
    expect(frame.locator(".msg-seen")).to_have_text("Seen")
    expect(console.locator(".presence")).to_have_text("Online now")

    frame.get_by_label("Message", exact=True).fill("And the")
    expect(console.locator(".typing")).to_contain_text("Ann Lee is typing")
    say(frame, "And the slides?")
    expect(console.locator(".conv-scroll .msg-body").last).to_have_text("And the slides?")
    expect(console.locator(".typing")).to_be_hidden()

    # Typing shows on the other side.
    console.locator(".conv-composer textarea").fill("Yes, both")
    expect(frame.locator(".typing")).to_contain_text("Alex Rivera is typing")
    reply(console, "Yes: we email the recording and the slides after the session.")
    expect(frame.locator(".msg--in .msg-body").last).to_have_text(
        "Yes: we email the recording and the slides after the session."
    )
    expect(frame.locator(".msg--in .msg-author").last).to_have_text("Alex Rivera")
    expect(frame.locator(".typing")).to_be_hidden()
    # The open widget read the reply: the console shows the attendee's receipt.
    expect(console.locator(".msg-seen")).to_have_text("Seen by Ann Lee")

    console.get_by_role("tab", name="Internal note").click()
    expect(console.locator(".conv-composer")).to_have_class(re.compile("conv-composer--note"))
    reply(console, "VIP customer: follow up after the webinar")
    expect(console.locator(".msg--note .msg-body")).to_have_text(
        "VIP customer: follow up after the webinar"
    )
    console.get_by_role("tab", name="Reply").click()
    reply(console, "Anything else I can help with?")
    expect(frame.locator(".msg-body").last).to_have_text("Anything else I can help with?")
    assert "VIP customer" not in frame.locator(".chat-scroll").inner_text()

    assert bodies(frame, ".chat-scroll") == [
        "Hi! Will the recording be available afterwards?",
        "And the slides?",
        "Yes: we email the recording and the slides after the session.",
        "Anything else I can help with?",
    ]
    expect(console.locator(".conv-scroll .msg .msg-body")).to_have_count(5)
    assert errors == []
    widget.context.close()
    console.context.close()


def test_cut_connection_resumes_without_loss_or_duplicates(browser: Browser, world: World) -> None:
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    say(frame, "before the cut")
    console.locator(".conv-row", has_text="Ann Lee").click()
    expect(console.locator(".conv-scroll .msg-body")).to_have_text(["before the cut"])

    world.live.call_sync(world.live.switch.cut)
    expect(frame.locator(".chat-banner")).to_be_visible()
    expect(frame.locator(".chat-banner")).to_contain_text("You're offline")
    say(frame, "typed offline 1")
    say(frame, "typed offline 2")
    expect(frame.locator(".msg--pending .msg-status")).to_have_text(
        ["Waiting for connection…", "Waiting for connection…"]
    )
    reply(console, "reply while you were away")
    expect(console.locator(".conv-scroll .msg-body").last).to_have_text("reply while you were away")
    assert world.live.switch.closed == 1

    world.live.call_sync(world.live.switch.restore)
    expect(frame.locator(".chat-banner")).to_be_hidden()
    expected = [
        "before the cut",
        "reply while you were away",
        "typed offline 1",
        "typed offline 2",
    ]
    expect(frame.locator(".chat-scroll .msg .msg-body")).to_have_text(expected)
    expect(frame.locator(".msg--pending")).to_have_count(0)
    expect(console.locator(".conv-scroll .msg .msg-body")).to_have_text(expected)
    assert stored_bodies(world) == expected
    widget.context.close()
    console.context.close()


def test_markup_in_messages_is_shown_as_text(browser: Browser, world: World) -> None:
    dialogs: list[Any] = []
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    for page in (console, widget):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    evil = "<img src=x onerror=alert(1)>"
    say(frame, evil)
    console.locator(".conv-row", has_text="Ann Lee").click()
    expect(console.locator(".conv-scroll .msg-body")).to_have_text([evil])
    reply(console, "<b>not bold</b> javascript:alert(2) https://example.com/ok")

    expect(frame.locator(".msg-body").last).to_have_text(
        "<b>not bold</b> javascript:alert(2) https://example.com/ok"
    )
    expect(frame.locator(".msg-body").first).to_have_text(evil)
    for scope in (frame.locator(".chat-scroll"), console.locator(".conv-scroll")):
        assert scope.locator(".msg-body img, .msg-body b").count() == 0
        links = scope.locator(".msg-body a")
        expect(links).to_have_count(1)
        expect(links).to_have_attribute("href", "https://example.com/ok")
        expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    assert dialogs == []
    widget.context.close()
    console.context.close()


def test_unread_badge_counts_replies_until_the_panel_opens(browser: Browser, world: World) -> None:
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    say(frame, "Are the slides online?")
    launcher = widget.get_by_role("button", name="Close chat")
    launcher.click()  # the attendee closes the panel and keeps watching the webinar
    badge = widget.locator("#switchboard-widget .badge")
    console.locator(".conv-row", has_text="Ann Lee").click()
    reply(console, "They are: https://example.com/slides")
    reply(console, "And the recording follows tonight.")
    expect(badge).to_have_text("2")
    expect(console.locator(".msg-seen")).to_have_count(0)  # not read while closed
    widget.get_by_role("button", name="Open chat").click()
    expect(badge).to_be_hidden()
    expect(console.locator(".msg-seen")).to_have_text("Seen by Ann Lee")
    widget.context.close()
    console.context.close()


def change_message(world: World, seq: int, body: str | None) -> StoredMessage:
    """Edit message ``seq`` to ``body`` (delete it when None) through its conversation actor,
    as the Slack bridge does for a Slack edit or delete."""
    assert world.live.running is not None
    system = world.live.running.state.system
    editor = Participant("staff", world.agent["id"], world.agent["name"])
    result: StoredMessage = world.live.call(
        system.groups.call,
        world.attendee["conversation"],
        (lambda reply: EditMessage(seq, body, editor, reply))
        if body is not None
        else (lambda reply: DeleteMessage(seq, editor, reply)),
        timeout=10.0,
    )
    return result


def test_edits_replace_the_message_and_deletes_remove_it(browser: Browser, world: World) -> None:
    seed = world.live.seed
    assert seed is not None
    token = world.live.call(seed.api_token, world.agent["id"])
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    errors = watch_errors(console) + watch_errors(widget)
    console.locator(".conv-row", has_text="Ann Lee").click()
    posted = []
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for body in ("We start at 3 pm", "Wrong webinar, sorry"):
            answer = http.post(
                f"/api/v1/conversations/{world.attendee['conversation']}/messages",
                json={"body": body},
            )
            assert answer.status_code == 201, answer.text
            posted.append(answer.json()["seq"])
    for scope, rows in ((frame, ".chat-scroll"), (console, ".conv-scroll")):
        expect(scope.locator(f"{rows} .msg .msg-body")).to_have_text(
            ["We start at 3 pm", "Wrong webinar, sorry"]
        )
        expect(scope.locator(f"{rows} .msg-edited")).to_have_count(0)

    edited = change_message(world, posted[0], "We start at 4 pm")
    assert edited.edited_at is not None
    change_message(world, posted[1], None)
    # Replaced in place (no second copy) with the edited mark; the deleted one is gone.
    for scope, rows in ((frame, ".chat-scroll"), (console, ".conv-scroll")):
        expect(scope.locator(f"{rows} .msg .msg-body")).to_have_text(["We start at 4 pm"])
        expect(scope.locator(f"{rows} .msg .msg-edited")).to_have_text(["edited"])

    # History after a reload says the same.
    widget.reload()
    widget.get_by_role("button", name="Open chat").click()
    expect(frame.locator(".chat-scroll .msg .msg-body")).to_have_text(["We start at 4 pm"])
    expect(frame.locator(".chat-scroll .msg .msg-edited")).to_have_text(["edited"])
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {token}"}) as http:
        history = http.get(f"/api/v1/conversations/{world.attendee['conversation']}/messages")
    assert history.status_code == 200, history.text
    items = [m for m in history.json()["items"] if m["kind"] == "message"]
    assert [(m["body"], m["edited_at"], m["deleted"]) for m in items] == [
        ("We start at 4 pm", edited.edited_at, False)
    ]
    assert errors == []
    widget.context.close()
    console.context.close()
