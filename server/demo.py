"""``switchboard demo``: the server, the Slack emulator and the SMTP sink in one process.

Everything binds to loopback. The emulator gets demo users (mia, sam) and the channel
#switchboard-demo; the server is pointed at it (Slack API URL, token, signing secret,
channel) and at the sink for mail, with demo mode on. A demo webinar moderated by Mia and
Sam is seeded (the same one ``/demo`` visitors join), with the attendee Ann, who writes a
first message: her Slack thread appears in the emulator, Mia answers in the thread, the
answer reaches Ann's conversation and, since Ann is offline, her inbox in the sink.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

from actors import contexts, directory
from actors.records import NewMessage
from actors.store import Tx
from protocol.frames import Participant
from server.auth import hash_password
from server.config import Settings, SettingsError
from server.main import Running, serve

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
#: The demo webinar's external id: server/pages.py's /demo uses the same one, so widget
#: visitors of /demo land in this webinar (and get Slack threads too).
DEMO_CONTEXT = "switchboard-demo-webinar"
DEMO_WEBINAR = "Launch day: what's new in Acme Cloud"
SIGNING_SECRET = "demo-signing-secret"
CHANNEL = "switchboard-demo"
ANN_FIRST = "Hi! Will the recording be shared after the session?"
MIA_REPLY = "Yes! We will email everyone the recording tomorrow morning."


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (the emulator and the sink are scripts, not packages)."""
    if name in sys.modules:
        return sys.modules[name]
    path = SCRIPTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.exists():
        raise SettingsError(f"switchboard demo needs the source checkout ({path} is missing)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _seed(tx: Tx, password_hash: str, token: str) -> dict[str, Any]:
    """Mia (admin, primary moderator), Sam, the demo webinar and its attendee Ann."""
    ids = {}
    for email, name, role in (
        ("mia@example.com", "Mia Moderator", "admin"),
        ("sam@example.com", "Sam Support", "agent"),
    ):
        row = tx.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        if row is None:
            ids[email] = directory.create_user(tx, email, name, role, password_hash)["id"]
        else:
            ids[email] = row[0]
            directory.update_user(tx, row[0], {"password_hash": password_hash})
    mia, sam = ids["mia@example.com"], ids["sam@example.com"]
    row = tx.execute("SELECT id FROM contexts WHERE external_id = ?", (DEMO_CONTEXT,)).fetchone()
    if row is None:
        context = contexts.create_context(
            tx,
            kind="webinar",
            title=DEMO_WEBINAR,
            data={"webinar": DEMO_WEBINAR, "session_type": "live"},
            moderators=[mia, sam],
            primary_moderator=mia,
            external_id=DEMO_CONTEXT,
        )["id"]
    else:
        context = row[0]
        for user, primary in ((mia, True), (sam, False)):
            tx.execute(
                "INSERT OR IGNORE INTO context_moderators (context_id, user_id, is_primary) "
                "VALUES (?, ?, ?)",
                (context, user, primary),
            )
    attendee = contexts.create_attendee(
        tx, context, "Ann Attendee", "ann@example.com", "demo-slack-ann", "widget", token,
        86_400_000,
    )  # fmt: skip
    return {"context": context, "attendee": attendee}


async def run_demo(
    settings: Settings,
    *,
    out: Callable[[str], None] | None = None,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the demo until cancelled; ``out`` (default: print) gets the lines for people."""
    if out is None:
        out = functools.partial(print, flush=True)
    # One line per Slack call and event delivery would drown the demo's own output.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    emulator = load_script("slack_emulator")
    smtp_sink = load_script("smtp_sink")
    slack = emulator.SlackState()
    slack.seed_demo()
    channel = slack.find_channel(CHANNEL).id
    sink = smtp_sink.Sink(on_message=lambda mail: out(f"mail: {mail.summary()}"))
    async with trio.open_nursery() as nursery:
        slack_url = await nursery.start(emulator.serve, slack)
        _host, smtp_port = await nursery.start(smtp_sink.serve, sink)
        overrides = {
            "slack_api_url": slack_url,
            "slack_bot_token": slack.token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_channel": channel,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_starttls": False,
            "smtp_from": "switchboard-demo@example.com",
            "demo": True,
        }
        demo_settings = dataclasses.replace(settings, **overrides)
        running: Running = await nursery.start(serve, demo_settings)
        url = running.url
        out(f"Switchboard listening on {url}")
        slack.configure(request_url=f"{url}/slack/events", signing_secret=SIGNING_SECRET)
        password = secrets.token_urlsafe(9)
        seeded = await running.state.system.store.write(
            functools.partial(
                _seed,
                password_hash=await trio.to_thread.run_sync(hash_password, password),
                token=directory.new_token("sba"),
            )
        )
        attendee = seeded["attendee"]
        contact = attendee["contact"]
        await running.state.system.post(
            NewMessage(
                conversation=attendee["conversation"],
                author=Participant("contact", contact["id"], contact["name"]),
                kind="message",
                body=ANN_FIRST,
                client_msg_id="demo-hello",
            )
        )
        base = slack_url.removesuffix("/api/")
        out(f"console: {url}/console  (log in as mia@example.com / {password})")
        out(f"widget demo page: {url}/demo")
        out(f"Slack emulator: {slack_url}  (everything: {base}/_emulator/state)")
        out(f"SMTP sink: 127.0.0.1:{smtp_port}  (mail is printed here as it arrives)")

        def thread() -> list[Any]:
            for message in slack.history(channel):
                if "Ann Attendee" in message.text:
                    return [message, *slack.history(channel, message.ts)[1:]]
            return []

        await slack.wait_until(lambda: len(thread()) >= 2)
        parent = thread()[0]
        slack.post_as_user("mia", channel, MIA_REPLY, thread_ts=parent.ts)
        out(f"Slack thread ready: #{CHANNEL} ts={parent.ts}; reply in it as a human with:")
        out(
            f"  curl -s -X POST {base}/_emulator/post -H 'Content-Type: application/json' "
            f'-d \'{{"user": "sam", "channel": "{CHANNEL}", "thread_ts": '
            f'"{parent.ts}", "text": "Hello from Slack"}}\''
        )
        task_status.started(running)
