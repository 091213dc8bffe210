"""What the bridge posts: the parent message, thread lines, channel names (pure functions)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from actors.slack_blocks import (
    MAX_CHANNEL_NAME,
    ParentFacts,
    channel_name,
    escape,
    parent_message,
    plain_date,
    slack_date,
    thread_line,
    unescape,
)

VALID = re.compile(r"^[a-z0-9_-]{1,80}$")
FACTS = ParentFacts(
    conversation="cv_1",
    contact_name="Ann <b>",
    contact_email="ann@example.com",
    webinar="Launch & Learn",
    session_type="replay",
    starts_at="2025-03-01T14:00:00Z",
    joined_at=1_740_838_500_000,  # 2025-03-01 14:15 UTC
    status="open",
    assignee=None,
    console_url="https://chat.example.com/console/conversations/cv_1",
)


def test_channel_names_follow_slacks_rules() -> None:
    assert channel_name("webinar-", "Launch Day: Q&A!") == "webinar-launch-day-q-a"
    assert channel_name("Webinar-", "Café Crème 2025") == "webinar-cafe-creme-2025"
    assert channel_name("w_", "under_score ok") == "w_under_score-ok"
    assert channel_name("", "¡¡¡") == "webinar"
    assert channel_name("webinar-", "日本語") == "webinar"
    long = channel_name("webinar-", "x" * 200, "-12")
    assert len(long) == MAX_CHANNEL_NAME
    assert long.endswith("x-12")


@given(st.text(max_size=20), st.text(max_size=200), st.sampled_from(["", "-2", "-10"]))
def test_any_webinar_name_gives_a_valid_channel_name(
    prefix: str, webinar: str, suffix: str
) -> None:
    name = channel_name(prefix, webinar, suffix)
    assert VALID.match(name), name
    assert name.strip("-_"), name
    assert name.endswith(suffix)


def test_user_text_cannot_mention_or_link() -> None:
    assert escape("<!channel> & <https://x|y>") == "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    assert unescape(escape("a < b && c > d")) == "a < b && c > d"


def test_the_parent_message_has_the_five_facts_and_the_button() -> None:
    text, blocks = parent_message(FACTS)
    assert text.startswith("Ann &lt;b&gt; (ann@example.com) joined Launch &amp; Learn. ")
    assert "session type: replay" in text
    assert "session start: 2025-03-01 14:00 UTC" in text
    assert "joined: 2025-03-01 14:15 UTC" in text
    assert text.endswith("Reply in chat: https://chat.example.com/console/conversations/cv_1")
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Ann <b> joined Launch & Learn"},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == [
        "*Attendee*\nAnn &lt;b&gt;",
        "*Email*\nann@example.com",
        "*Webinar*\nLaunch &amp; Learn",
        "*Session type*\nreplay",
        "*Session start*\n<!date^1740837600^{date_short_pretty} {time}|2025-03-01 14:00 UTC>",
        "*Joined*\n<!date^1740838500^{date_short_pretty} {time}|2025-03-01 14:15 UTC>",
    ]
    (button,) = blocks[3]["elements"]
    assert button["url"] == FACTS.console_url
    assert button["text"]["text"] == "Reply in chat"


def test_a_resolved_conversation_shows_as_resolved() -> None:
    from dataclasses import replace

    text, blocks = parent_message(replace(FACTS, status="resolved", assignee="Sam"))
    assert text.startswith("✅ Resolved: ")
    assert "status: resolved; assignee: Sam" in text
    assert blocks[0]["text"]["text"].startswith("✅ Resolved: Ann")
    assert "Status: *resolved* · Assignee: Sam" in blocks[2]["elements"][0]["text"]


def test_dates() -> None:
    assert plain_date(ms=0) == "1970-01-01 00:00 UTC"
    assert plain_date(iso="2025-03-01T16:00:00+02:00") == "2025-03-01 14:00 UTC"
    assert slack_date(iso="not a date") == "not a date"
    assert slack_date() == "-"


def test_thread_lines_name_the_author() -> None:
    assert thread_line("contact", "Ann", "message", "Hi <there>", None) == "*Ann*: Hi &lt;there&gt;"
    assert thread_line("staff", "Mia", "message", "Hello", None) == (
        "*Mia* (from Switchboard): Hello"
    )
    assert thread_line("staff", "Mia", "note", "vip", None) == ":memo: *Internal note by Mia:* vip"
    poll = {"event": "interaction", "kind": "poll", "title": "Best?", "answer": "B"}
    assert thread_line("contact", "Ann", "event", "Best?: B", poll) == (
        ":bar_chart: *Ann* answered the poll “Best?”: B"
    )
