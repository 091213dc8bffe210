"""Settings: environment, TOML, validation, and the README stays complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.config import Settings, SettingsError, setting_docs

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme_with_its_default() -> None:
    text = README.read_text()
    rows = dict(re.findall(r"^\| `(SWITCHBOARD_[A-Z_]+)` \| `([^`]*)` \|", text, re.MULTILINE))
    for env, default, _ in setting_docs():
        assert env in rows, f"{env} is missing from the README settings table"
        assert rows[env] == default, (
            f"README says {env} defaults to {rows[env]!r}, code {default!r}"
        )
    documented = set(rows)
    actual = {env for env, _, _ in setting_docs()}
    assert documented == actual, (
        f"README documents settings that do not exist: {documented - actual}"
    )


def test_environment_overrides_toml_which_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        '[switchboard]\nport = 9000\nlog_level = "DEBUG"\nallowed_origins = ["https://a.example"]\n'
    )
    settings = Settings.load(
        config_file=config,
        environ={"SWITCHBOARD_PORT": "9100", "SWITCHBOARD_SECURE_COOKIES": "yes"},
    )
    assert settings.port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.allowed_origins == ("https://a.example",)
    assert settings.secure_cookies is True
    assert settings.host == "127.0.0.1"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("outbox_frames = 64\n")
    settings = Settings.load(environ={"SWITCHBOARD_CONFIG": str(config)})
    assert settings.outbox_frames == 64


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWITCHBOARD_PORT": "eighty"}, "setting port"),
        ({"SWITCHBOARD_PORT": "70000"}, "port must be"),
        ({"SWITCHBOARD_SQLITE_SYNCHRONOUS": "OFF"}, "sqlite_synchronous"),
        ({"SWITCHBOARD_SECURE_COOKIES": "maybe"}, "secure_cookies"),
        ({"SWITCHBOARD_NOPE": "1"}, "SWITCHBOARD_NOPE"),
        ({"SWITCHBOARD_HELLO_TIMEOUT": "0"}, "hello_timeout"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(environ=env)


def test_unreadable_config_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(SettingsError, match="cannot read config file"):
        Settings.load(config_file=bad, environ={})
