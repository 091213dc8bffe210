"""Settings: one frozen dataclass, read from SWITCHBOARD_* variables and a TOML file.

Each field declares its default and its help text once (in ``metadata``); the README
lists every field with its default, and a test fails when one is missing. Precedence:
environment variable > TOML file (``SWITCHBOARD_CONFIG`` or ``--config``) > default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SWITCHBOARD_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


def _s(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Settings:
    """Every setting of a Switchboard server (see the README's settings table)."""

    host: str = _s("127.0.0.1", "Address the HTTP/websocket server binds to.")
    port: int = _s(8080, "TCP port to listen on (0 picks a free port).")
    data_dir: Path = _s(Path("data"), "Folder for the SQLite database and attachments.")
    database: str = _s("switchboard.db", "SQLite file name inside data_dir.")
    public_url: str = _s(
        "", "URL people reach the server at (links in Slack and email); default http://host:port."
    )
    allowed_origins: tuple[str, ...] = _s(
        (),
        "Browser Origins (comma-separated) trusted besides the server's own: they may use "
        "the console cookie; when set, token-authenticated websockets (the embedded "
        "widget) are also limited to them. Empty: the widget may be embedded anywhere.",
    )
    sqlite_synchronous: str = _s(
        "FULL",
        "SQLite synchronous mode: FULL (an acked message survives power loss) or NORMAL "
        "(survives a process crash only; faster on slow disks).",
    )
    ws_max_message_bytes: int = _s(
        65536, "Largest websocket message accepted; bigger ones close the socket with 1009."
    )
    ws_ping_interval: float = _s(25.0, "Seconds between websocket pings from the server.")
    ws_native: bool = _s(
        True,
        "Serve /ws websockets on Switchboard's own connection handler (less CPU per frame "
        "and memory per connection); false hands them to hypercorn like every other request.",
    )
    hello_timeout: float = _s(10.0, "Seconds a new websocket has to send its hello frame.")
    outbox_frames: int = _s(
        1024, "Frames queued for one websocket before it counts as too slow (closed with 4008)."
    )
    batch_max_frames: int = _s(
        256, "Most frames coalesced into one websocket batch frame by a session writer."
    )
    rate_per_second: float = _s(20.0, "Frames per second one websocket may send on average.")
    rate_burst: int = _s(100, "Frames one websocket may send in a burst above the average.")
    group_idle_timeout: float = _s(
        300.0, "Seconds a conversation group with no subscribers stays in memory."
    )
    session_ttl: float = _s(1209600.0, "Lifetime of a console login session in seconds (14 days).")
    attendee_token_ttl: float = _s(604800.0, "Lifetime of an attendee token in seconds (7 days).")
    secure_cookies: bool = _s(False, "Mark cookies Secure (turn on when serving over HTTPS).")
    log_level: str = _s("INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.")

    # -- browser surfaces (issue 3): add fields below this line ----------------------------
    attachment_max_bytes: int = _s(
        10485760, "Largest attachment upload in bytes (10 MiB); bigger ones are refused with 413."
    )
    attachment_types: tuple[str, ...] = _s(
        ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"),
        "Content types (comma-separated) accepted for attachments; others are refused with 415.",
    )
    demo: bool = _s(
        False, "Demo mode: /demo creates a demo webinar and attendee and shows the widget."
    )

    # -- Slack bridge and mail (issue 4): add fields below this line -----------------------
    slack_api_url: str = _s(
        "https://slack.com/api/",
        "Slack Web API base URL (the Slack emulator's URL in tests and the demo).",
    )
    slack_bot_token: str = _s(
        "", "Slack bot token (xoxb-...); the Slack bridge is off while it is empty."
    )
    slack_signing_secret: str = _s(
        "", "Slack app signing secret: requests to /slack/events must be signed with it."
    )
    slack_channel: str = _s(
        "", "Slack channel (id or name) for all attendee threads when channels per webinar are off."
    )
    slack_channel_per_webinar: bool = _s(
        False, "Create one Slack channel per webinar (slack_channel_prefix + its name)."
    )
    slack_channel_prefix: str = _s(
        "webinar-", "Prefix of per-webinar Slack channel names (a trailing dash is recommended)."
    )
    slack_first_message_only: bool = _s(
        False,
        "Only surface attendees who start chatting: post to Slack on an attendee's first "
        "message instead of when they join.",
    )
    slack_note_prefix: str = _s(
        "note:", "A Slack thread reply starting with this becomes an internal note."
    )
    reply_as: str = _s(
        "primary",
        "Who staff replies appear from in webinars without their own choice: primary (the "
        "primary moderator) or actual (the moderator who wrote them).",
    )
    slack_post_interval: float = _s(
        1.0, "Seconds between posts to one Slack channel (Slack allows about one a second)."
    )
    slack_timeout: float = _s(10.0, "Seconds to wait for a Slack Web API answer.")
    smtp_host: str = _s("", "SMTP server for mail to offline attendees; mail is off while empty.")
    smtp_port: int = _s(587, "SMTP server port.")
    smtp_from: str = _s("switchboard@localhost", "Sender address of mail to attendees.")
    smtp_username: str = _s("", "SMTP login name (empty: no login).")
    smtp_password: str = _s("", "SMTP password.")
    smtp_starttls: bool = _s(True, "Use STARTTLS (turn off only for a local relay or test sink).")
    smtp_timeout: float = _s(30.0, "Seconds to wait for the SMTP server.")

    # -- Webhooks and recipes (issue 5): add fields below this line ------------------------
    webhook_allow_private_targets: bool = _s(
        False,
        "Let webhooks call private, loopback and link-local addresses (the SSRF guard "
        "refuses them by default); only for trusted networks and tests.",
    )

    @property
    def database_path(self) -> Path:
        return self.data_dir / self.database

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build from a mapping of field name to value (strings are converted)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in fields:
                raise SettingsError(f"unknown setting {name!r}")
            kwargs[name] = _convert(name, fields[name].default, raw)
        settings = cls(**kwargs)
        settings.validate()
        return settings

    @classmethod
    def load(
        cls,
        *,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Defaults, then the TOML file, then SWITCHBOARD_* variables, then overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = config_file or (
            Path(env[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in env else None
        )
        if path is not None:
            try:
                with path.open("rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"cannot read config file {path}: {exc}") from exc
            values.update(data.get("switchboard", data))
        names = {f.name for f in dataclasses.fields(cls)}
        for key, raw in env.items():
            if key.startswith(ENV_PREFIX) and key != f"{ENV_PREFIX}CONFIG":
                name = key[len(ENV_PREFIX) :].lower()
                if name not in names:
                    raise SettingsError(f"unknown setting in environment: {key}")
                values[name] = raw
        values.update(overrides or {})
        return cls.from_mapping(values)

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError("port must be between 0 and 65535")
        if self.sqlite_synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise SettingsError("sqlite_synchronous must be FULL, NORMAL or EXTRA")
        if self.ws_max_message_bytes < 1024:
            raise SettingsError("ws_max_message_bytes must be at least 1024")
        if self.outbox_frames < 16:
            raise SettingsError("outbox_frames must be at least 16")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("log_level must be DEBUG, INFO, WARNING or ERROR")
        for name in (
            "ws_ping_interval",
            "hello_timeout",
            "rate_per_second",
            "session_ttl",
            "attendee_token_ttl",
            "group_idle_timeout",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")


def _convert(name: str, default: Any, raw: Any) -> Any:
    """Convert a raw (string or TOML) value to the type of the field's default."""
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            if isinstance(raw, bool):
                raise ValueError("expected a whole number")
            return int(raw)
        if isinstance(default, float):
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            return tuple(str(part) for part in raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: cannot use {raw!r}: {exc}") from exc


def setting_docs() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs and tests."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        rows.append((f"{ENV_PREFIX}{f.name.upper()}", shown, f.metadata["help"]))
    return rows
