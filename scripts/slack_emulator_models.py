"""Data types, limits and small rules of the Slack emulator (scripts/slack_emulator.py).

Plain data: the workspace's users, channels and messages, recorded calls, faults, event
deliveries and run-time config, plus Slack's error type and the checks shared by the
other ``slack_emulator_*`` modules. No I/O here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Json = dict[str, Any]

#: Slack refuses message text above this many characters (``msg_too_long``).
MAX_TEXT_CHARS = 40_000
#: Slack's limit on channel names (``invalid_name_maxlength``).
MAX_CHANNEL_NAME = 80
#: Slack counts an event delivery as failed when the receiver has not answered by then.
EVENT_ACK_TIMEOUT = 3.0
#: Slack retries a failed delivery three times: at once, after a minute, after five.
EVENT_RETRY_DELAYS = (0.0, 60.0, 300.0)
#: Default and largest page for cursor-paginated methods (Slack: 100 and 1000).
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Request bodies above this are refused; a bound keeps a runaway client from growing memory.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Pending event deliveries; bounded so a test that never serves cannot grow memory forever.
EVENT_QUEUE_SIZE = 10_000
#: Hosts the emulator binds to and delivers events to; anything else is refused.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: Fault kinds accepted by :meth:`SlackState.add_fault` and ``POST /_emulator/faults``.
FAULT_KINDS = ("rate_limited", "http_error", "hang", "error")
#: Slack message timestamps: seconds, a dot, six digits.
TS_RE = re.compile(r"^\d{1,12}\.\d{6}$")
#: Channel names Slack accepts: lowercase letters, digits, hyphens and underscores.
CHANNEL_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
#: Emoji names accepted by reactions.add.
EMOJI_RE = re.compile(r"^[a-z0-9_+'-]+(::skin-tone-[2-6])?$")


class SlackError(Exception):
    """A Slack ``ok: false`` answer; ``code`` is Slack's error string."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class User:
    """A workspace member; humans have an email, the bot user does not."""

    id: str
    name: str
    real_name: str
    email: str | None = None
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Channel:
    """A public or private channel; ``members`` holds user ids in join order."""

    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""


@dataclass
class Message:
    """One message; a thread parent lists its replies' ts in ``replies``."""

    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    metadata: Any = None
    username: str | None = None
    client_msg_id: str | None = None
    edited: dict[str, str] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)


@dataclass
class CallRecord:
    """One Web API request as received, with how it was answered."""

    method: str
    params: Json
    token: str | None
    status: int = 200
    ok: bool | None = None
    error: str | None = None
    fault: str | None = None


@dataclass
class Fault:
    """An injected failure for the next ``count`` calls (to ``method``, or to any)."""

    kind: str
    count: int = 1
    method: str | None = None
    retry_after: int = 1
    status: int = 500
    seconds: float = 10.0
    error: str = "internal_error"
    process: bool = False
    #: ``hang`` only: once released, the call takes effect but the connection is cut
    #: before the answer (the client never learns that it worked).
    cut: bool = False


@dataclass
class Attempt:
    """One HTTP attempt to deliver an event; ``failure`` is None when acknowledged."""

    retry_num: int
    status: int | None
    failure: str | None


@dataclass
class Delivery:
    """An Events API callback and every attempt made to deliver it."""

    event_id: str
    envelope: Json
    attempts: list[Attempt] = field(default_factory=list)
    done: bool = False
    acknowledged: bool = False


@dataclass(frozen=True)
class Emitted:
    """What a control action produced; ``event_id`` is None when no event was sent."""

    channel: str
    ts: str
    event_id: str | None


@dataclass
class EmulatorConfig:
    """Events API and policy settings, changeable at run time."""

    request_url: str | None = None
    signing_secret: str = "emulator-signing-secret"
    verification_token: str = "emulator-verification-token"
    #: Like Slack, the bot's own posts, edits and deletes also produce message events.
    bot_message_events: bool = True
    ack_timeout: float = EVENT_ACK_TIMEOUT
    retry_delays: tuple[float, ...] = EVENT_RETRY_DELAYS
    #: With Slack's chat:write.public scope a bot may post to public channels it is not in.
    chat_write_public: bool = False


@dataclass(frozen=True)
class _Job:
    event_id: str
    retry_num: int
    reason: str | None
    chain: bool


def require_loopback_url(url: str) -> str:
    """Return ``url`` if it is http(s) on a loopback host, else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"only loopback http(s) URLs are allowed, got {url!r}")
    return url


# ---------------------------------------------------------------------- helpers


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _rich_text_block(text: str) -> Json:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "block_id": uuid.uuid4().hex[:5], "elements": [section]}


def _check_channel_name(name: str, existing: Iterable[Channel]) -> None:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME_RE.match(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    if any(ch.name == name for ch in existing):
        raise SlackError("name_taken")
