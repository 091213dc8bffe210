"""Business hours: a weekly timetable in a time zone, with holidays; open or closed at an
instant, and when that changes next.

Pure (no trio, no sqlite). A recipe may run only inside or only outside a schedule's
hours (actors/recipe_model.py ``HoursRule``); REST shows ``open_now`` and ``next_change``.

Times are local wall time in the schedule's zone (``zoneinfo``): "09:00" is 09:00 on the
office clock on both sides of a daylight-saving change, so in Europe/Paris it is 08:00 UTC
in winter and 07:00 UTC in summer. Wall times that do not exist (the hour skipped in
spring) are passed when the clock jumps; those that happen twice (autumn) are open both
times. Holidays are local dates, closed all day.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actors.recipe_fields import RecipeError, child, expect_object, text_value

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
MAX_NAME = 200
#: Intervals of one day and holidays of one schedule: generous, and bounded.
MAX_INTERVALS = 24
MAX_HOLIDAYS = 1000
#: How far ahead :func:`next_change` looks: a year of holidays and then some.
HORIZON_DAYS = 400
#: First, a week (every weekly timetable changes within one, unless holidays intervene).
SHORT_HORIZON_DAYS = 8
_HHMM = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
#: IANA names: letters, digits and ``_+-/``; never a path with dots.
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")


class HoursError(RecipeError):
    """A bad business hours definition; ``field`` is the JSON path (``weekly.tue[1]``).

    A RecipeError, so an API answers both the same way (400 ``invalid_field``).
    """


@dataclass(frozen=True)
class Schedule:
    """Opening hours: per day (``mon``..``sun``, all present) the open intervals as
    minutes since local midnight, sorted, ``start < end <= 1440``."""

    name: str
    timezone: str
    weekly: Mapping[str, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        """The normalised definition; ``parse_schedule(s.to_json()) == s``."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "weekly": {
                day: [[_hhmm(start), _hhmm(end)] for start, end in self.weekly.get(day, ())]
                for day in DAYS
            },
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# -- parsing -----------------------------------------------------------------------------------


def parse_schedule(data: Any) -> Schedule:
    """Validate a business hours definition.

    Raises:
        HoursError: the first bad field, by JSON path.
    """
    try:
        obj = expect_object(data, "", ("name", "timezone", "weekly", "holidays"))
        name = text_value(obj, "name", "", max_chars=MAX_NAME)
    except HoursError:
        raise
    except RecipeError as exc:
        raise HoursError(exc.field or "definition", exc.message) from None
    assert name is not None
    return Schedule(
        name=name,
        timezone=_timezone(obj.get("timezone")),
        weekly=_weekly(obj.get("weekly")),
        holidays=_holidays(obj.get("holidays")),
    )


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HoursError("timezone", 'is required: an IANA time zone such as "Europe/Paris"')
    name = value.strip()
    try:
        if not _ZONE_NAME.match(name):
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise HoursError(
            "timezone", f'unknown time zone {name!r}; use an IANA name such as "Europe/Paris"'
        ) from None
    return name


def _weekly(value: Any) -> dict[str, tuple[tuple[int, int], ...]]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise HoursError("weekly", "must be an object of days (mon..sun) to intervals")
    weekly: dict[str, tuple[tuple[int, int], ...]] = {}
    for day, intervals in value.items():
        if day not in DAYS:
            raise HoursError(child("weekly", str(day)), f"unknown day; use {', '.join(DAYS)}")
        weekly[day] = _day(intervals, child("weekly", day))
    return {day: weekly.get(day, ()) for day in DAYS}


def _day(value: Any, path: str) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_INTERVALS:
        raise HoursError(path, f'must be a list of at most {MAX_INTERVALS} ["HH:MM", "HH:MM"]')
    intervals = []
    for index, pair in enumerate(value):
        where = child(path, index)
        if not isinstance(pair, list) or len(pair) != 2:
            raise HoursError(where, 'must be ["HH:MM", "HH:MM"] (start, end)')
        start = _minutes(pair[0], child(where, 0), end=False)
        end = _minutes(pair[1], child(where, 1), end=True)
        if start >= end:
            raise HoursError(
                where, f"must start before it ends ({pair[0]} is not before {pair[1]})"
            )
        intervals.append((start, end, index))
    intervals.sort()
    for (_, end, _), (start, _, index) in itertools.pairwise(intervals):
        if start < end:
            raise HoursError(child(path, index), "overlaps another interval of the day")
    return tuple((start, end) for start, end, _ in intervals)


def _minutes(value: Any, path: str, *, end: bool) -> int:
    found = _HHMM.match(value) if isinstance(value, str) else None
    if found is None:
        raise HoursError(path, f'must be a time "HH:MM" from 00:00 to 24:00, not {value!r}')
    minutes = int(found[1]) * 60 + int(found[2])
    if minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not end):
        raise HoursError(path, f"{value} is not a time of day (24:00 may only end an interval)")
    return minutes


def _holidays(value: Any) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        raise HoursError("holidays", f'must be a list of at most {MAX_HOLIDAYS} "YYYY-MM-DD"')
    days = set()
    for index, item in enumerate(value):
        try:
            if not isinstance(item, str) or len(item) != 10:
                raise ValueError(item)
            days.add(date.fromisoformat(item))
        except ValueError:
            raise HoursError(
                child("holidays", index), f'must be a date "YYYY-MM-DD", not {item!r}'
            ) from None
    return frozenset(days)


# -- open or closed ----------------------------------------------------------------------------


def is_open(schedule: Schedule, at_ms: int) -> bool:
    """Whether the schedule is open at the instant ``at_ms`` (ms since the epoch)."""
    local = datetime.fromtimestamp(at_ms // 1000, schedule.zone)
    if local.date() in schedule.holidays:
        return False
    minute = local.hour * 60 + local.minute
    intervals = schedule.weekly.get(DAYS[local.weekday()], ())
    return any(start <= minute < end for start, end in intervals)


def next_change(schedule: Schedule, at_ms: int) -> int | None:
    """The first instant after ``at_ms`` (ms) at which :func:`is_open` changes, or None
    when it does not within :data:`HORIZON_DAYS` days (always open, never open)."""
    if _constant(schedule):
        return None
    now = is_open(schedule, at_ms)
    for horizon in (SHORT_HORIZON_DAYS, HORIZON_DAYS):
        for candidate in sorted(set(_candidates(schedule, at_ms, horizon))):
            if candidate > at_ms and is_open(schedule, candidate) != now:
                return candidate
    return None


def _constant(schedule: Schedule) -> bool:
    """Never open, or open all the time with no holidays."""
    days = [schedule.weekly.get(day, ()) for day in DAYS]
    if not any(days):
        return True
    return not schedule.holidays and all(d == ((0, MINUTES_PER_DAY),) for d in days)


def _candidates(schedule: Schedule, at_ms: int, days: int) -> Iterator[int]:
    """Every instant (ms) in the next ``days`` days at which the state may change: each
    boundary's wall time (both readings of an ambiguous one), midnights (holidays start
    and end there), and the zone's offset changes (a skipped boundary is passed then).
    Between two consecutive candidates the state is constant."""
    zone = schedule.zone
    first = datetime.fromtimestamp(at_ms // 1000, zone).date() - timedelta(days=1)
    for offset in range(days + 2):
        day = first + timedelta(days=offset)
        bounds = {0}
        for start, end in schedule.weekly.get(DAYS[day.weekday()], ()):
            bounds.update((start, end % MINUTES_PER_DAY))
        for minute in bounds:
            wall = datetime.combine(day, time(minute // 60, minute % 60), zone)
            for fold in (0, 1):
                yield int(wall.replace(fold=fold).timestamp()) * 1000
        yield from _offset_changes(zone, day)


def _offset_changes(zone: ZoneInfo, day: date) -> Iterator[int]:
    """The instants (ms) during the local ``day`` at which the zone's UTC offset changes:
    found by bisection over seconds (at most one per day in practice)."""
    low = int(datetime.combine(day, time(0), zone).timestamp())
    high = low + 26 * 3600
    if _offset(zone, low) == _offset(zone, high):
        return
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, middle) == _offset(zone, low):
            low = middle
        else:
            high = middle
    yield high * 1000


def _offset(zone: ZoneInfo, seconds: int) -> timedelta | None:
    return datetime.fromtimestamp(seconds, zone).utcoffset()
