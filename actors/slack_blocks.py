"""What the bridge posts to Slack: the attendee's parent message (Block Kit with a plain-text
fallback), the lines mirrored into its thread, and valid channel names. Pure functions.

Everything an attendee or staff member typed is escaped for Slack's mrkdwn (``&``, ``<``,
``>``), so a message cannot ping ``<!channel>`` or forge a link.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Slack's channel name rules: at most 80 characters of a-z, 0-9, - and _.
MAX_CHANNEL_NAME = 80
#: Block Kit limits: header text and one section field.
MAX_HEADER = 150
MAX_FIELD = 2000
#: Slack truncates messages over 40 000 characters; bodies are at most 16 KiB anyway.
MAX_TEXT = 39_000
_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def escape(text: str) -> str:
    """Make user text safe inside Slack mrkdwn (no mentions, links or formatting tricks)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack's event text back to what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(ms: int | None = None, iso: str | None = None) -> str:
    """A Slack date token (shown in each reader's time zone) with a UTC fallback."""
    if iso is not None:
        try:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            return escape(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    elif ms is not None:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    else:
        return "-"
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def plain_date(ms: int | None = None, iso: str | None = None) -> str:
    """The same moment as plain text (for the notification fallback)."""
    token = slack_date(ms, iso)
    return token.rsplit("|", 1)[1].rstrip(">") if token.startswith("<!date^") else token


@dataclass(frozen=True, slots=True)
class ParentFacts:
    """What the parent message says about one attendee's conversation."""

    conversation: str
    contact_name: str
    contact_email: str | None
    webinar: str | None
    session_type: str | None
    starts_at: str | None
    joined_at: int
    status: str
    assignee: str | None
    console_url: str
    #: True when the parent was posted because the attendee wrote (first-message mode).
    started_chatting: bool = False


def parent_message(f: ParentFacts) -> tuple[str, list[dict[str, Any]]]:
    """(plain-text fallback, Block Kit blocks) of the parent message."""
    verb = "started chatting in" if f.started_chatting else "joined"
    webinar = f.webinar or "a conversation"
    resolved = f.status == "resolved"
    mark = "✅ Resolved: " if resolved else ""
    email = f.contact_email or "no email"
    session_type = f.session_type or "-"
    start_plain = plain_date(iso=f.starts_at) if f.starts_at else "-"
    start = slack_date(iso=f.starts_at) if f.starts_at else "-"
    assignee = f.assignee or "nobody"
    text = _clip(
        f"{mark}{escape(f.contact_name)} ({escape(email)}) {verb} {escape(webinar)}. "
        f"Webinar: {escape(webinar)}; session type: {escape(session_type)}; "
        f"session start: {start_plain}; joined: {plain_date(ms=f.joined_at)}; "
        f"status: {f.status}; assignee: {escape(assignee)}. "
        f"Reply in chat: {f.console_url}",
        MAX_TEXT,
    )
    fields = [
        ("Attendee", escape(f.contact_name)),
        ("Email", escape(email)),
        ("Webinar", escape(webinar)),
        ("Session type", escape(session_type)),
        ("Session start", start),
        ("Joined", slack_date(ms=f.joined_at)),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _clip(f"{mark}{f.contact_name} {verb} {webinar}", MAX_HEADER),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", MAX_FIELD)}
                for label, value in fields
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Status: *{f.status}* · Assignee: {escape(assignee)} · "
                    "replies in this thread reach the attendee",
                }
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "open_conversation",
                    "text": {"type": "plain_text", "text": "Reply in chat"},
                    "url": f.console_url,
                }
            ],
        },
    ]
    return text, blocks


def thread_line(
    author_kind: str,
    author_name: str,
    kind: str,
    body: str,
    data: dict[str, Any] | None,
) -> str:
    """One conversation message as a line in the Slack thread, with the author's name."""
    name = escape(author_name or "someone")
    if kind == "note":
        return _clip(f":memo: *Internal note by {name}:* {escape(body)}", MAX_TEXT)
    if kind == "event" and data and data.get("event") == "interaction":
        what = escape(str(data.get("kind") or "interaction"))
        title = data.get("title")
        about = f" “{escape(str(title))}”" if title else ""
        answer = escape(str(data.get("answer") or body))
        return _clip(f":bar_chart: *{name}* answered the {what}{about}: {answer}", MAX_TEXT)
    if author_kind == "staff":
        return _clip(f"*{name}* (from Switchboard): {escape(body)}", MAX_TEXT)
    return _clip(f"*{name}*: {escape(body)}", MAX_TEXT)


def channel_name(prefix: str, webinar: str, suffix: str = "") -> str:
    """A valid Slack channel name from a prefix and a webinar name.

    Lowercase ASCII letters, digits, dashes and underscores, at most 80 characters, not
    only punctuation; accents are folded (``Café`` -> ``cafe``), everything else becomes
    a dash. ``suffix`` (e.g. ``-2`` after ``name_taken``) is kept whole.
    """
    folded = unicodedata.normalize("NFKD", f"{prefix}{webinar}")
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    name = _DASHES.sub("-", _NOT_NAME.sub("-", ascii_text)).strip("-")
    if not name.strip("-_"):
        name = "webinar"
    name = name[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-") + suffix
    return name
