"""The staff console in a real browser: login, CSRF, shortcuts, filters, settings,
attachments."""

from __future__ import annotations

import functools
import re
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect

from actors import contexts
from actors.records import NewMessage
from protocol.frames import Participant
from tests.helpers import PASSWORD
from tests.web.conftest import World, login, new_context, open_host_page
from tests.web.test_browser_chat import open_console, open_widget, reply, say

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (a browser must be able to decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def team_count(world: World) -> int:
    def count(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM teams").fetchone()[0])

    seed = world.live.seed
    assert seed is not None
    result: int = world.live.call(seed.store.read, count)
    return result


def test_console_redirects_to_login_and_logs_in_and_out(browser: Browser, world: World) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{world.url}/console/settings/users")
    expect(page).to_have_url(f"{world.url}/console/login?next=/console/settings/users")
    page.get_by_label("Email").fill("maria@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{world.url}/console/settings/users")
    expect(page.get_by_role("cell", name="Alex Rivera")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{world.url}/console/login")
    page.goto(f"{world.url}/console")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console$"))
    context.close()


def test_forged_cross_site_post_is_refused(browser: Browser, world: World) -> None:
    context = new_context(browser)
    login(context, world.url, "maria@example.com")
    before = team_count(world)
    # A page on another site posts a form at the API with the victim's browser.
    forged = (
        f'<form method="post" action="{world.url}/api/v1/teams" enctype="text/plain">'
        '<input name=\'{"name":"pwned","members":[],"x":"\' value=\'"}\'></form>'
        "<script>document.forms[0].submit()</script>"
    )
    evil = world.url.replace("127.0.0.1", "localhost") + "/evil"
    context.grant_permissions(["local-network-access"])
    context.route(evil, lambda r: r.fulfill(status=200, content_type="text/html", body=forged))
    page = context.new_page()
    page.goto(evil)
    expect(page).to_have_url(f"{world.url}/api/v1/teams")
    # SameSite=Strict: the cookie did not travel with the cross-site post.
    expect(page.locator("body")).to_contain_text('"code":"unauthorized"')
    # With the cookie but without the CSRF token (or from a foreign Origin): refused too.
    no_token = context.request.post(f"{world.url}/api/v1/teams", data={"name": "pwned"})
    assert no_token.status == 403
    assert no_token.json()["error"]["code"] == "csrf"
    me = context.request.get(f"{world.url}/api/v1/auth/me").json()
    foreign = context.request.post(
        f"{world.url}/api/v1/teams",
        data={"name": "pwned"},
        headers={"X-CSRF-Token": me["csrf"], "Origin": "https://evil.example"},
    )
    assert foreign.status == 403
    assert team_count(world) == before
    context.close()


def test_shortcuts_help_filters_assign_and_resolve(browser: Browser, world: World) -> None:
    live, seed = world.live, world.live.seed
    assert seed is not None
    other = live.call(seed.attendee, world.context["id"], "Bob Stone", "bob@example.com")
    system = live.running.state.system  # type: ignore[union-attr]
    for attendee, body in ((world.attendee, "First question"), (other, "Second question")):
        contact = Participant(kind="contact", id=attendee["contact"]["id"], name="x")
        live.call(system.post, NewMessage(attendee["conversation"], contact, "message", body))
    console = open_console(browser, world)
    rows = console.locator(".conv-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Bob Stone")  # newest activity first

    console.keyboard.press("?")
    help_dialog = console.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_contain_text("Resolve the conversation")
    console.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    console.keyboard.press("j")
    expect(console.locator(".conv-title")).to_have_text("Bob Stone")
    console.keyboard.press("j")
    expect(console.locator(".conv-title")).to_have_text("Ann Lee")
    console.keyboard.press("k")
    expect(console.locator(".conv-title")).to_have_text("Bob Stone")

    console.keyboard.press("a")
    expect(console.get_by_label("Assignee", exact=True).last).to_have_value(
        f"user:{world.agent['id']}"
    )
    console.get_by_label("Assignee", exact=True).first.select_option("me")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bob Stone")
    console.get_by_label("Assignee", exact=True).first.select_option("unassigned")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ann Lee")
    console.get_by_label("Assignee", exact=True).first.select_option("")

    console.keyboard.press("e")  # resolve Bob's conversation: it leaves the Open list
    expect(console.get_by_role("button", name="Reopen")).to_be_visible()
    expect(console.locator(".msg-event").last).to_contain_text("resolved")
    console.get_by_role("button", name="Resolved").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bob Stone")

    console.get_by_role("button", name="All").click()
    console.get_by_label("Search messages").fill("first")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ann Lee")

    console.keyboard.press("Escape")
    console.keyboard.press("n")
    expect(console.get_by_role("tab", name="Internal note")).to_have_attribute(
        "aria-selected", "true"
    )
    console.keyboard.press("Escape")
    console.keyboard.press("r")
    expect(console.get_by_role("tab", name="Reply")).to_have_attribute("aria-selected", "true")

    # Unread counts are the server's, per viewer: Ann's conversation was read (seq 1) when
    # "j" showed it. Of what follows only Ann's two messages count for Alex: not Maria's
    # note, not his own reply. The count holds live and after a reload.
    conv = world.attendee["conversation"]
    ann = Participant(kind="contact", id=world.attendee["contact"]["id"], name="Ann Lee")
    maria = Participant(kind="staff", id=world.admin["id"], name="Maria Admin")
    alex = Participant(kind="staff", id=world.agent["id"], name="Alex Rivera")
    for author, kind, body in (
        (ann, "message", "Still there?"),
        (maria, "note", "She asked twice"),
        (alex, "message", "Yes, one moment"),
        (ann, "message", "Thanks!"),
    ):
        live.call(system.post, NewMessage(conv, author, kind, body))
    badge = rows.filter(has_text="Ann Lee").locator(".unread-badge")
    expect(badge).to_have_text("2")
    console.reload()
    expect(badge).to_have_text("2")
    console.context.close()


def test_attachments_images_inline_files_as_links(
    browser: Browser, world: World, tmp_path: Path
) -> None:
    console = open_console(browser, world)
    widget, frame = open_widget(browser, world)
    say(frame, "Here is a screenshot")
    image = tmp_path / "screen.png"
    image.write_bytes(png(3, 2, (79, 70, 229)))
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    frame.locator("input[type=file]").set_input_files(str(image))
    picture = frame.locator(".msg--out img.msg-image")
    expect(picture).to_have_attribute("src", re.compile(r"^blob:"))
    expect(picture).to_have_js_property("naturalWidth", 3)

    console.locator(".conv-row", has_text="Ann Lee").click()
    staff_picture = console.locator(".conv-scroll img.msg-image")
    expect(staff_picture).to_have_js_property("naturalWidth", 3)
    console.locator(".conv-composer input[type=file]").set_input_files(str(notes))
    link = frame.locator(".msg--in .msg-file")
    expect(link).to_contain_text("notes.txt")
    with widget.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_text() == "my notes\n"

    bad = tmp_path / "page.html"
    bad.write_text("<script>alert(1)</script>")
    frame.locator("input[type=file]").set_input_files(str(bad))
    expect(frame.locator(".chat-notice")).to_contain_text("not accepted")
    reply(console, "Thanks, got it")
    expect(frame.locator(".msg-body").last).to_have_text("Thanks, got it")
    widget.context.close()
    console.context.close()


def test_demo_page_embeds_a_working_widget(browser: Browser, world: World) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{world.url}/demo")
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title='Questions? Ask the team']")
    expect(frame.locator(".msg--bot .msg-body")).to_contain_text("This chat is the Switchboard")
    say(frame, "Hello from the demo")
    expect(frame.locator(".msg--out .msg-body")).to_have_text(["Hello from the demo"])
    # A reload continues the same conversation (the visitor cookie).
    page.reload()
    page.get_by_role("button", name="Open chat").click()
    expect(frame.locator(".msg--out .msg-body")).to_have_text(["Hello from the demo"])
    context.close()


def test_host_page_without_token_gets_no_widget(browser: Browser, world: World) -> None:
    context = new_context(browser)
    errors: list[str] = []
    context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page = open_host_page(context, world.url, "")
    expect(page.locator("h1")).to_have_text("A host page")
    assert page.locator("#switchboard-widget").count() == 0
    assert any("data-token" in e for e in errors)
    context.close()


def test_link_chat_page_shows_context_and_chat(browser: Browser, world: World) -> None:
    context = new_context(browser)
    page = context.new_page()
    token = world.attendee["token"]
    page.goto(f"{world.url}/chat#token={token}&title=Your%20invoice%20%231042")
    expect(page.get_by_role("heading", name="Your invoice #1042")).to_be_visible()
    say(page, "Hello from the link page")
    expect(page.locator(".msg--out .msg-body")).to_have_text(["Hello from the link page"])
    expect(page.locator(".msg--pending")).to_have_count(0)
    context.close()


def test_a_message_typed_before_welcome_is_sent_once_welcome_arrives(
    browser: Browser, world: World
) -> None:
    """The server's frames are held back until the visitor has pressed Enter: the message
    shows as pending, then goes out once the conversation is known (it used to be lost)."""
    context = new_context(browser)
    page = context.new_page()
    held: list[str | bytes] = []
    routes: list[WebSocketRoute] = []
    released = False

    def relay(message: str | bytes) -> None:
        if released:
            routes[0].send(message)
        else:
            held.append(message)

    def hold(ws: WebSocketRoute) -> None:
        routes.append(ws)
        ws.connect_to_server().on_message(relay)

    page.route_web_socket(re.compile(r"/ws$"), hold)
    page.goto(f"{world.url}/chat#token={world.attendee['token']}&title=Early")
    expect(page.get_by_role("heading", name="Early")).to_be_visible()
    say(page, "Typed before welcome")
    expect(page.locator(".msg--pending .msg-body")).to_have_text(["Typed before welcome"])
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    assert len(routes) == 1  # the welcome (held, or still on its way) was not delivered
    while held:  # frames that arrive meanwhile queue behind, in order
        routes[0].send(held.pop(0))
    released = True
    expect(page.locator(".msg--out .msg-body")).to_have_text(["Typed before welcome"])
    expect(page.locator(".msg--pending")).to_have_count(0)
    context.close()


def test_history_pages_load_when_scrolling_up(browser: Browser, world: World) -> None:
    live = world.live
    system = live.running.state.system  # type: ignore[union-attr]
    ann = Participant(kind="contact", id=world.attendee["contact"]["id"], name="Ann Lee")
    for n in range(1, 121):
        live.call(system.post, NewMessage(world.attendee["conversation"], ann, "message", f"m{n}"))
    console = open_console(browser, world)
    console.locator(".conv-row", has_text="Ann Lee").click()
    bodies = console.locator(".conv-scroll .msg-body")
    expect(bodies).to_have_count(50)
    expect(bodies.last).to_have_text("m120")
    for shown in (100, 120):
        console.locator(".conv-scroll").evaluate("el => { el.scrollTop = 0; }")
        expect(bodies).to_have_count(shown)
    assert bodies.all_inner_texts() == [f"m{n}" for n in range(1, 121)]
    console.context.close()


def test_admin_manages_teams_and_users(browser: Browser, world: World) -> None:
    console = open_console(browser, world, "maria@example.com")
    console.get_by_role("link", name="Settings").click()
    expect(console).to_have_url(f"{world.url}/console/settings")
    console.get_by_role("link", name="Teams").click()
    console.get_by_label("Team name").fill("Support")
    console.get_by_role("button", name="Create team").click()
    card = console.locator(".team-card", has_text="Support")
    card.get_by_label("Alex Rivera").check()
    card.get_by_role("button", name="Save members").click()
    expect(console.locator(".toast")).to_contain_text("Saved Support")
    console.get_by_role("link", name="Users").click()
    form = console.get_by_role("form", name="Add a user")
    form.get_by_label("Name").fill("Kim Park")
    form.get_by_label("Email").fill("kim@example.com")
    form.get_by_label("Password").fill("long enough pw")
    form.get_by_role("button", name="Add user").click()
    expect(console.get_by_role("cell", name="kim@example.com")).to_be_visible()
    console.get_by_role("link", name="Slack", exact=True).click()
    expect(console.get_by_role("form", name="Slack settings")).to_be_visible()
    seed = world.live.seed
    assert seed is not None
    teams = world.live.call(
        seed.store.read,
        lambda conn: conn.execute(
            "SELECT t.name, count(m.user_id) FROM teams t JOIN team_members m ON m.team_id = t.id "
            "GROUP BY t.id"
        ).fetchall(),
    )
    assert teams == [("Support", 1)]
    console.context.close()


def test_slack_reply_in_chat_link_opens_that_conversation(browser: Browser, world: World) -> None:
    live, seed = world.live, world.live.seed
    assert seed is not None
    other = live.call(seed.attendee, world.context["id"], "Bob Stone", "bob@example.com")
    conversation = other["conversation"]
    link = f"{world.url}/console/conversations/{conversation}"  # actors/slack_blocks.py
    context = new_context(browser)
    page = context.new_page()
    # Not logged in yet: the login page sends the person on to the conversation.
    page.goto(link)
    expect(page).to_have_url(
        f"{world.url}/console/login?next=/console/conversations/{conversation}"
    )
    page.get_by_label("Email").fill("alex@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{world.url}/console/c/{conversation}")
    expect(page.locator(".conv-title")).to_have_text("Bob Stone")
    expect(page.locator(".conv-row--selected")).to_contain_text("Bob Stone")
    # Logged in: the link opens the conversation directly.
    page.goto(f"{world.url}/console/conversations/{world.attendee['conversation']}")
    expect(page).to_have_url(f"{world.url}/console/c/{world.attendee['conversation']}")
    expect(page.locator(".conv-title")).to_have_text("Ann Lee")
    context.close()


def test_a_reply_shown_as_the_primary_moderator_settles_once(
    browser: Browser, world: World
) -> None:
    """Console attribution (docs/slack.md): Alex, a moderator, replies in a webinar whose
    primary moderator is Maria; the reply appears once, from Maria, not left pending."""
    live, seed = world.live, world.live.seed
    assert seed is not None
    webinar = live.call(
        seed.store.write,
        functools.partial(
            contexts.create_context,
            kind="webinar",
            title="Moderated webinar",
            data={"webinar": "Moderated webinar"},
            moderators=[world.admin["id"], world.agent["id"]],
            primary_moderator=world.admin["id"],
            external_id=None,
        ),
    )
    live.call(seed.attendee, webinar["id"], "Cleo Park", "cleo@example.com")
    console = open_console(browser, world)
    console.locator(".conv-row", has_text="Cleo Park").click()
    reply(console, "Welcome, Cleo")
    expect(console.locator(".conv-scroll .msg .msg-body")).to_have_text(["Welcome, Cleo"])
    expect(console.locator(".conv-scroll .msg--pending")).to_have_count(0)
    expect(console.locator(".conv-scroll .msg .msg-author")).to_have_text(["Maria Admin"])
    console.context.close()
