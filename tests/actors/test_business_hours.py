"""Business hours: parsing (errors naming the field), open/closed across time zones,
daylight-saving changes, holidays, intervals ending at 24:00, and the next change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.business_hours import (
    DAYS,
    HoursError,
    Schedule,
    is_open,
    next_change,
    parse_schedule,
)
from actors.recipe_model import RecipeError

OFFICE = {
    "mon": [["09:00", "17:30"]],
    "tue": [["09:00", "12:00"], ["13:00", "17:30"]],
    "wed": [],
    "thu": [["09:00", "17:30"]],
    "fri": [["09:00", "17:00"]],
}


def ms(text: str) -> int:
    """Milliseconds of a UTC time written ``2026-03-27T08:00``."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def utc(value: int | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def schedule(timezone: str = "Europe/Paris", **overrides: Any) -> Schedule:
    data: dict[str, Any] = {"name": "Office", "timezone": timezone, "weekly": OFFICE}
    data.update(overrides)
    return parse_schedule(data)


def every_day(*intervals: list[str]) -> dict[str, list[list[str]]]:
    return {day: [list(i) for i in intervals] for day in DAYS}


# -- parsing -----------------------------------------------------------------------------------


def test_parse_normalises_and_round_trips() -> None:
    paris = schedule(holidays=["2027-01-01", "2026-12-25"])
    assert paris.weekly["tue"] == ((540, 720), (780, 1050))
    assert paris.weekly["sat"] == ()  # missing days are closed
    data = paris.to_json()
    assert data["holidays"] == ["2026-12-25", "2027-01-01"]
    assert data["weekly"]["sun"] == []
    assert data["weekly"]["tue"] == [["09:00", "12:00"], ["13:00", "17:30"]]
    assert parse_schedule(data) == paris


def test_intervals_are_sorted() -> None:
    parsed = schedule(weekly={"mon": [["13:00", "14:00"], ["08:00", "09:00"]]})
    assert parsed.weekly["mon"] == ((480, 540), (780, 840))


def test_hours_errors_are_recipe_errors() -> None:
    """So an API answers both the same way."""
    with pytest.raises(RecipeError):
        parse_schedule({"name": "x", "timezone": "Nowhere/Town"})


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ([], "definition", "must be an object"),
        ({"timezone": "UTC"}, "name", "is required"),
        ({"name": "x"}, "timezone", "is required"),
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"name": "x", "timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
        ({"name": "x", "timezone": "UTC", "colour": 1}, "colour", "unknown field"),
        ({"name": "x", "timezone": "UTC", "weekly": []}, "weekly", "days"),
        ({"name": "x", "timezone": "UTC", "weekly": {"monday": []}}, "weekly.monday", "mon, tue"),
        ({"name": "x", "timezone": "UTC", "weekly": {"mon": "9-5"}}, "weekly.mon", "list"),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["09:00"]]}},
            "weekly.mon[0]",
            "(start, end)",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["9:00", "17:00"]]}},
            "weekly.mon[0][0]",
            "HH:MM",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["09:00", "17:60"]]}},
            "weekly.mon[0][1]",
            "HH:MM",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["09:00", "24:01"]]}},
            "weekly.mon[0][1]",
            "not a time of day",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["24:00", "24:00"]]}},
            "weekly.mon[0][0]",
            "24:00 may only end",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["17:00", "09:00"]]}},
            "weekly.mon[0]",
            "must start before it ends",
        ),
        (
            {"name": "x", "timezone": "UTC", "weekly": {"mon": [["09:00", "09:00"]]}},
            "weekly.mon[0]",
            "must start before it ends",
        ),
        (
            {
                "name": "x",
                "timezone": "UTC",
                "weekly": {"fri": [["13:00", "17:00"], ["09:00", "13:30"]]},
            },
            "weekly.fri[0]",
            "overlaps",
        ),
        ({"name": "x", "timezone": "UTC", "holidays": "2026-12-25"}, "holidays", "list"),
        (
            {"name": "x", "timezone": "UTC", "holidays": ["2026-12-25", "2026-02-30"]},
            "holidays[1]",
            "YYYY-MM-DD",
        ),
        ({"name": "x", "timezone": "UTC", "holidays": ["20261225"]}, "holidays[0]", "YYYY-MM-DD"),
    ],
)
def test_bad_definitions_name_the_field(data: Any, field: str, fragment: str) -> None:
    with pytest.raises(HoursError) as caught:
        parse_schedule(data)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"


def test_touching_intervals_are_not_an_overlap() -> None:
    parsed = schedule(weekly={"mon": [["09:00", "12:00"], ["12:00", "13:00"]]})
    assert parsed.weekly["mon"] == ((540, 720), (720, 780))


# -- open or closed ----------------------------------------------------------------------------


def test_the_same_instant_in_two_time_zones() -> None:
    paris, new_york = schedule("Europe/Paris"), schedule("America/New_York")
    # Thursday 2026-06-11, summer time on both sides: Paris is UTC+2, New York UTC-4.
    morning = ms("2026-06-11T08:00")  # 10:00 in Paris, 04:00 in New York
    assert is_open(paris, morning)
    assert not is_open(new_york, morning)
    evening = ms("2026-06-11T17:00")  # 19:00 in Paris, 13:00 in New York
    assert not is_open(paris, evening)
    assert is_open(new_york, evening)
    assert utc(next_change(new_york, morning)) == "2026-06-11T13:00:00"
    assert utc(next_change(paris, evening)) == "2026-06-12T07:00:00"


def test_boundaries_open_at_the_start_and_close_at_the_end() -> None:
    paris = schedule()  # Monday 2026-06-08: 09:00-17:30 local = 07:00-15:30 UTC
    assert not is_open(paris, ms("2026-06-08T06:59:59"))
    assert is_open(paris, ms("2026-06-08T07:00"))
    assert is_open(paris, ms("2026-06-08T15:29:59"))
    assert not is_open(paris, ms("2026-06-08T15:30"))
    tuesday_lunch = ms("2026-06-09T10:30")  # 12:30 local, between the two intervals
    assert not is_open(paris, tuesday_lunch)
    assert utc(next_change(paris, tuesday_lunch)) == "2026-06-09T11:00:00"


def test_spring_change_in_paris() -> None:
    """Clocks go from 02:00 to 03:00 on Sunday 2026-03-29: 09:00 local is 08:00 UTC before
    (UTC+1) and 07:00 UTC after (UTC+2)."""
    paris = schedule()
    assert utc(next_change(paris, ms("2026-03-27T00:00"))) == "2026-03-27T08:00:00"  # Friday
    assert not is_open(paris, ms("2026-03-27T07:59"))
    assert is_open(paris, ms("2026-03-27T08:00"))
    assert utc(next_change(paris, ms("2026-03-27T08:00"))) == "2026-03-27T16:00:00"
    assert utc(next_change(paris, ms("2026-03-27T16:00"))) == "2026-03-30T07:00:00"  # Monday
    assert is_open(paris, ms("2026-03-30T07:00"))
    assert utc(next_change(paris, ms("2026-03-30T07:00"))) == "2026-03-30T15:30:00"


def test_autumn_change_in_paris() -> None:
    """Clocks go from 03:00 back to 02:00 on Sunday 2026-10-25: 09:00 local is 07:00 UTC
    before and 08:00 UTC after."""
    paris = schedule()
    assert utc(next_change(paris, ms("2026-10-23T00:00"))) == "2026-10-23T07:00:00"  # Friday
    assert utc(next_change(paris, ms("2026-10-23T12:00"))) == "2026-10-23T15:00:00"
    assert utc(next_change(paris, ms("2026-10-23T15:00"))) == "2026-10-26T08:00:00"  # Monday
    assert not is_open(paris, ms("2026-10-26T07:30"))
    assert is_open(paris, ms("2026-10-26T08:00"))


def test_an_interval_across_the_skipped_hour() -> None:
    """01:00-04:00 local on the spring day lasts two real hours (02:00-03:00 never is)."""
    night = schedule(weekly={"sun": [["01:00", "04:00"]]})
    assert utc(next_change(night, ms("2026-03-28T23:00"))) == "2026-03-29T00:00:00"
    assert utc(next_change(night, ms("2026-03-29T00:00"))) == "2026-03-29T02:00:00"
    starts_in_gap = schedule(weekly={"sun": [["02:30", "05:00"]]})
    # 02:30 never shows on the clock that day: open once it jumps to 03:00 (01:00 UTC).
    assert utc(next_change(starts_in_gap, ms("2026-03-29T00:00"))) == "2026-03-29T01:00:00"
    assert not is_open(starts_in_gap, ms("2026-03-29T00:59:59"))
    assert is_open(starts_in_gap, ms("2026-03-29T01:00"))


def test_an_hour_that_happens_twice_is_open_twice() -> None:
    twice = schedule(weekly={"sun": [["02:00", "02:30"]]})
    # 02:00-02:30 local is 00:00-00:30 UTC (summer time), then again 01:00-01:30 UTC.
    assert is_open(twice, ms("2026-10-25T00:15"))
    assert not is_open(twice, ms("2026-10-25T00:45"))
    assert is_open(twice, ms("2026-10-25T01:15"))
    assert utc(next_change(twice, ms("2026-10-25T00:15"))) == "2026-10-25T00:30:00"
    assert utc(next_change(twice, ms("2026-10-25T00:30"))) == "2026-10-25T01:00:00"
    assert utc(next_change(twice, ms("2026-10-25T01:00"))) == "2026-10-25T01:30:00"


def test_holidays_are_local_dates() -> None:
    paris = schedule(holidays=["2026-12-25"])  # a Friday
    assert not is_open(paris, ms("2026-12-25T10:00"))
    assert is_open(paris, ms("2026-12-24T10:00"))
    assert utc(next_change(paris, ms("2026-12-24T20:00"))) == "2026-12-28T08:00:00"
    new_york = schedule(
        "America/New_York", weekly=every_day(["00:00", "24:00"]), holidays=["2026-12-25"]
    )
    # Christmas in New York is 05:00 UTC on the 25th to 05:00 UTC on the 26th.
    assert is_open(new_york, ms("2026-12-25T04:59:59"))
    assert not is_open(new_york, ms("2026-12-25T05:00"))
    assert not is_open(new_york, ms("2026-12-26T04:59:59"))
    assert utc(next_change(new_york, ms("2026-12-24T12:00"))) == "2026-12-25T05:00:00"
    assert utc(next_change(new_york, ms("2026-12-25T05:00"))) == "2026-12-26T05:00:00"


def test_intervals_ending_at_midnight_join_the_next_day() -> None:
    late = parse_schedule(
        {
            "name": "Late",
            "timezone": "UTC",
            "weekly": {"fri": [["22:00", "24:00"]], "sat": [["00:00", "02:00"]]},
        }
    )
    # Friday 2026-06-12 23:00 UTC: open, and it stays open past midnight until 02:00.
    assert is_open(late, ms("2026-06-12T23:59:59"))
    assert is_open(late, ms("2026-06-13T00:00"))
    assert utc(next_change(late, ms("2026-06-12T23:00"))) == "2026-06-13T02:00:00"
    assert utc(next_change(late, ms("2026-06-13T02:00"))) == "2026-06-19T22:00:00"


def test_schedules_that_never_change() -> None:
    closed = parse_schedule({"name": "Closed", "timezone": "UTC"})
    assert not is_open(closed, ms("2026-06-12T12:00"))
    assert next_change(closed, ms("2026-06-12T12:00")) is None
    always = parse_schedule(
        {"name": "Always", "timezone": "Asia/Tokyo", "weekly": every_day(["00:00", "24:00"])}
    )
    assert is_open(always, ms("2026-06-12T12:00"))
    assert next_change(always, ms("2026-06-12T12:00")) is None


def test_a_long_run_of_holidays() -> None:
    """The next change is found beyond the first week."""
    days = [f"2026-07-{d:02d}" for d in range(1, 32)]
    summer = schedule(holidays=days)
    assert utc(next_change(summer, ms("2026-06-30T16:00"))) == "2026-08-03T07:00:00"


ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # a half-hour daylight-saving shift
    "Asia/Kathmandu",  # UTC+5:45
    "America/Santiago",  # changes at midnight
    "UTC",
]
_TIMES = st.integers(0, 95).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    weekly: dict[str, list[list[str]]] = {}
    for day in draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=7)):
        points = sorted(draw(st.lists(st.integers(0, 96), min_size=2, max_size=6, unique=True)))
        pairs = list(zip(points[::2], points[1::2], strict=False))
        weekly[day] = [
            [f"{a // 4:02d}:{a % 4 * 15:02d}", f"{b // 4:02d}:{b % 4 * 15:02d}"] for a, b in pairs
        ]
    holidays = draw(
        st.lists(st.dates(datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date()), max_size=5)
    )
    return parse_schedule(
        {
            "name": "S",
            "timezone": draw(st.sampled_from(ZONES)),
            "weekly": weekly,
            "holidays": [d.isoformat() for d in holidays],
        }
    )


@settings(max_examples=150, deadline=None)
@given(schedules(), st.integers(ms("2026-01-01T00:00"), ms("2026-12-31T00:00")))
def test_next_change_is_the_first_change(paris: Schedule, at: int) -> None:
    """The state differs at the change, and holds from ``at`` until just before it."""
    change = next_change(paris, at)
    now = is_open(paris, at)
    if change is None:
        return
    assert change > at
    assert is_open(paris, change) != now
    assert is_open(paris, change - 1000) == now
    step = max(1, (change - at) // 64)
    assert all(is_open(paris, t) == now for t in range(at, change, step))
