"""docs/protocol.md and protocol/ describe the same frames, fields and codes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from protocol.errors import CloseCode, ErrorCode
from protocol.events import EVENT_TYPES
from protocol.frames import CLIENT_FRAMES, SERVER_FRAMES, Attachment, Participant

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
# First cell of a table row, in backticks: | `name` | ...
ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text (backticks stripped) -> body, for headings of exactly ``level`` #'s.

    A section ends at the next heading of the same or a higher level.
    """
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        hashes = len(line) - len(line.lstrip("#"))
        if hashes and line[hashes : hashes + 1] == " ":
            if hashes == level:
                current = line[hashes:].strip().strip("`")
                out[current] = []
                continue
            if hashes < level:
                current = None
                continue
        if current is not None:
            out[current].append(line)
    return {name: "\n".join(lines) for name, lines in out.items()}


def table_keys(body: str) -> list[str]:
    return [m.group(1) for line in body.splitlines() if (m := ROW_KEY.match(line.strip()))]


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    return sections(DOC.read_text(encoding="utf-8"), 2)


def documented_fields(doc: dict[str, str], chapter: str) -> dict[str, list[str]]:
    assert chapter in doc, f"docs/protocol.md lacks '## {chapter}'"
    return {name: table_keys(body) for name, body in sections(doc[chapter], 3).items()}


@pytest.mark.parametrize(
    ("chapter", "registry"),
    [
        ("Client frames", CLIENT_FRAMES),
        ("Server frames", SERVER_FRAMES),
        ("Value types", {"Participant": Participant, "Attachment": Attachment}),
    ],
)
def test_every_frame_and_field_is_documented(
    doc: dict[str, str], chapter: str, registry: dict[str, type]
) -> None:
    documented = documented_fields(doc, chapter)
    assert set(documented) == set(registry), f"{chapter}: headings differ from the code"
    for name, cls in registry.items():
        fields = [field.name for field in dataclasses.fields(cls)]
        rows = documented[name]
        assert len(rows) == len(set(rows)), f"{chapter} / {name}: a field is listed twice"
        assert rows == fields, f"{chapter} / {name}: doc {rows} != code {fields}"


def test_every_error_code_is_documented(doc: dict[str, str]) -> None:
    rows = table_keys(doc["Error codes"])
    assert sorted(rows) == sorted(code.value for code in ErrorCode)
    assert len(rows) == len(set(rows))


def test_every_close_code_is_documented(doc: dict[str, str]) -> None:
    rows = table_keys(doc["Close codes"])
    assert sorted(int(row) for row in rows) == sorted(int(code) for code in CloseCode)


def test_every_event_type_is_documented(doc: dict[str, str]) -> None:
    rows = {
        m.group(1): line.split("|")[2]
        for line in doc["Event log"].splitlines()
        if (m := ROW_KEY.match(line))
    }
    assert list(rows) == list(EVENT_TYPES)
    for event_type, cell in rows.items():
        listed = re.findall(r"\b([a-z_]+)\b(?![^(]*\))", cell)  # names outside parentheses
        fields = [field.name for field in dataclasses.fields(EVENT_TYPES[event_type])]
        assert listed == fields, f"{event_type}: doc {listed} != code {fields}"


def test_limits_and_subprotocols_are_published(doc: dict[str, str]) -> None:
    assert "65536 bytes" in doc["Limits"]
    assert "16384 bytes of UTF-8" in doc["Limits"]
    assert "| 10 |" in doc["Limits"]
    assert "`switchboard.v1.msgpack`" in doc["Subprotocols"]
    assert "`switchboard.v1.json`" in doc["Subprotocols"]


def test_the_parser_sees_a_missing_field() -> None:
    text = "## Client frames\n### ping\n| field | x |\n| --- | --- |\n| `nonce` | int |\n## Other\n"
    parsed = documented_fields(sections(text, 2), "Client frames")
    assert parsed == {"ping": ["nonce"]}
    assert parsed["ping"] != [f.name for f in dataclasses.fields(CLIENT_FRAMES["ping"])]
