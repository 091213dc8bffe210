"""Full-text search (SQLite FTS5) in the inbox: what it finds, and that no query breaks it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import trio
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from actors.search import Cursor, fts_query
from tests.helpers import Seed
from tests.server.test_api_conversations import customer_says
from tests.server.test_api_support import settings, staff  # noqa: F401 - settings is a fixture

#: Queries made of FTS5 syntax: each must be searched for literally, never parsed.
NASTY = [
    '"a" OR NEAR(',
    '"',
    '""',
    "(",
    ")",
    "*",
    "**",
    "NOT",
    "AND OR NOT",
    "body:refund",
    "{body}: x",
    "refund^",
    "^refund",
    "-refund",
    "+",
    "NEAR(a b, 3)",
    "'; DROP TABLE messages; --",
    "a\x00b",
    "\\",
    "ü" * 100,
]


async def test_search_finds_words_in_messages_and_notes(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        ann, bob, cid = [await seed.attendee(context["id"], name=n) for n in ("Ann", "Bob", "Cid")]
        await customer_says(seed, ann, "I want a refund for order 42")
        await customer_says(seed, bob, "Hello world, refunds please")
        async with client:
            note = await client.post(
                f"/api/v1/conversations/{cid['conversation']}/messages",
                json={"body": "internal: refund approved", "kind": "note"},
            )
            assert note.status_code == 201
            # Event messages are not searched: "pending" is only in an event's body.
            patched = await client.patch(
                f"/api/v1/conversations/{bob['conversation']}", json={"status": "pending"}
            )
            assert patched.status_code == 200

            async def found(q: str, extra: str = "") -> set[str]:
                response = await client.get(f"/api/v1/conversations?q={quote(q)}{extra}")
                assert response.status_code == 200, (q, response.text)
                return {c["id"] for c in response.json()["items"]}

            a, b, c = ann["conversation"], bob["conversation"], cid["conversation"]
            assert await found("refund") == {a, c}
            assert await found("REFUND order") == {a}
            assert await found("refund*") == {a, b, c}
            assert await found("hello") == {b}
            assert await found("42") == {a}
            assert await found("pending") == set()
            assert await found("refund", "&status=open") == {a, c}
            assert await found("nothing-like-this") == set()
            assert await found("   ") == {a, b, c}  # blank means no search


async def test_fts_syntax_never_breaks_search(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        attendee = await seed.attendee(context["id"])
        await customer_says(seed, attendee, 'refund "a" OR NEAR( b')
        async with client:
            for q in NASTY:
                response = await client.get(f"/api/v1/conversations?q={quote(q)}")
                assert response.status_code == 200, (q, response.text)
                assert isinstance(response.json()["items"], list)
            # Searched literally: the words of the nasty query are found as words.
            hit = await client.get(f"/api/v1/conversations?q={quote(NASTY[0])}")
            assert [c["id"] for c in hit.json()["items"]] == [attendee["conversation"]]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5 (body, tokenize='unicode61')")
    conn.execute("INSERT INTO f (body) VALUES ('hello world'), ('refund \"quoted\" (42)')")
    yield conn
    conn.close()


@hypothesis_settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_is_a_valid_fts_query(fts: sqlite3.Connection, text: str) -> None:
    match = fts_query(text)
    if match is None:
        assert all(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text)
        return
    try:
        fts.execute("SELECT rowid FROM f WHERE f MATCH ?", (match,)).fetchall()
    except UnicodeEncodeError:
        # Lone surrogates cannot reach SQLite at all; HTTP query strings never carry them.
        assert any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def test_quoted_terms_match_literally(fts: sqlite3.Connection) -> None:
    def rows(q: str) -> list[int]:
        match = fts_query(q)
        assert match is not None
        return [r[0] for r in fts.execute("SELECT rowid FROM f WHERE f MATCH ?", (match,))]

    assert rows("hello") == [1]
    assert rows('"quoted"') == [2]
    assert rows("(42)") == [2]
    assert rows("hel*") == [1]
    assert rows("hello OR refund") == []  # OR is a word here, and no row has it
    assert fts_query(" \t\n") is None


@given(stamp=st.integers(0, 2**63 - 1), ident=st.text(min_size=1))
def test_cursor_round_trip(stamp: int, ident: str) -> None:
    try:
        cursor = Cursor(stamp, ident)
        encoded = cursor.encode()
    except UnicodeEncodeError:
        return
    assert Cursor.decode(encoded) == cursor
