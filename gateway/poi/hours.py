"""Opening hours of a POI: the structured format, its validation, "open now?", and the text for the page.

The format (JSON, stored in ``pois.opening_hours``; ``{}`` means "not given")::

    {"timezone": "Asia/Shanghai",                      # optional, IANA name; default Asia/Shanghai
     "weekly": [{"days": ["mon", "tue"], "open": "10:00", "close": "22:00"}, ...],
     "special_days": [{"date": "2026-10-01", "closed": true, "note": "国庆"},
                      {"date": "2026-12-31", "ranges": [{"open": "10:00", "close": "02:00"}]}]}

Times are local wall-clock ``HH:MM``. A range whose ``close`` is not after its ``open`` runs past
midnight: Fri 18:00–02:00 is open until 02:00 on Saturday. ``"24:00"`` is allowed as a close (a day
open around the clock is 00:00–24:00); ``open == close`` is refused as ambiguous.

A special day replaces the weekly ranges *of that date*. A range that started the evening before and
runs past midnight still belongs to the day it started on, so it is honoured on the special day's
early morning even when the special day is closed (a bar open Friday 20:00–02:00 is open at 01:00
on a Saturday holiday: the guests are already there). Likewise a special day's overnight range runs
into the next day.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_TIMEZONE = "Asia/Shanghai"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

MAX_WEEKLY_ENTRIES = 28
MAX_SPECIAL_DAYS = 366
MAX_RANGES_PER_SPECIAL_DAY = 6
MAX_NOTE_LENGTH = 50

_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEYS = {"timezone", "weekly", "special_days"}
_WEEKLY_KEYS = {"days", "open", "close"}
_SPECIAL_KEYS = {"date", "closed", "ranges", "note"}
_RANGE_KEYS = {"open", "close"}


# --- validation ---------------------------------------------------------------------------------


def validate_opening_hours(value, field: str = "opening_hours") -> list[dict]:
    """Problems with ``value`` as ``[{field, message}]`` (field paths like ``opening_hours.weekly[0].open``); empty = valid."""
    errors: list[dict] = []

    def error(path: str, message: str) -> None:
        errors.append({"field": path, "message": message})

    if not isinstance(value, dict):
        error(field, "must be an object with weekly and special_days")
        return errors
    for key in sorted(set(value) - _KEYS):
        error(f"{field}.{key}", "unknown field; allowed: timezone, weekly, special_days")

    if "timezone" in value and not _is_timezone(value["timezone"]):
        error(f"{field}.timezone", f"unknown time zone {value['timezone']!r}; use an IANA name like Asia/Shanghai")

    weekly = value.get("weekly", [])
    if not isinstance(weekly, list):
        error(f"{field}.weekly", "must be a list")
    elif len(weekly) > MAX_WEEKLY_ENTRIES:
        error(f"{field}.weekly", f"too many entries ({len(weekly)}); at most {MAX_WEEKLY_ENTRIES}")
    else:
        _validate_weekly(weekly, f"{field}.weekly", error)

    special_days = value.get("special_days", [])
    if not isinstance(special_days, list):
        error(f"{field}.special_days", "must be a list")
    elif len(special_days) > MAX_SPECIAL_DAYS:
        error(f"{field}.special_days", f"too many entries ({len(special_days)}); at most {MAX_SPECIAL_DAYS}")
    else:
        _validate_special_days(special_days, f"{field}.special_days", error)
    return errors


def _validate_weekly(weekly: list, path: str, error) -> None:
    # (start, end, where) in minutes since Monday 00:00, to find overlaps across the whole week
    spans: list[tuple[int, int, str]] = []
    for i, entry in enumerate(weekly):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            error(where, "must be an object with days, open and close")
            continue
        for key in sorted(set(entry) - _WEEKLY_KEYS):
            error(f"{where}.{key}", "unknown field; allowed: days, open, close")
        days = entry.get("days")
        days_ok = False
        if not isinstance(days, list) or not days:
            error(f"{where}.days", f"must be a non-empty list of {', '.join(DAYS)}")
        else:
            unknown = [d for d in days if d not in DAYS]
            if unknown:
                error(f"{where}.days", f"unknown day {unknown[0]!r}; use {', '.join(DAYS)}")
            elif len(set(days)) != len(days):
                error(f"{where}.days", "lists a day twice")
            else:
                days_ok = True
        times = _validate_range(entry, where, error)
        if days_ok and times:
            for day in days:
                start = DAYS.index(day) * _MINUTES_PER_DAY + times[0]
                spans.append((start, start + _length(*times), f"{where} ({day})"))
    _report_overlaps(spans, _MINUTES_PER_WEEK, error)


def _validate_special_days(special_days: list, path: str, error) -> None:
    seen: dict[date, int] = {}
    for i, entry in enumerate(special_days):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            error(where, "must be an object with date and either closed: true or ranges")
            continue
        for key in sorted(set(entry) - _SPECIAL_KEYS):
            error(f"{where}.{key}", "unknown field; allowed: date, closed, ranges, note")
        day = _parse_date(entry.get("date"))
        if day is None:
            error(f"{where}.date", "must be a date YYYY-MM-DD")
        elif day in seen:
            error(f"{where}.date", f"{day.isoformat()} is already given in {path}[{seen[day]}]")
        else:
            seen[day] = i
        note = entry.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH):
            error(f"{where}.note", f"must be a text of at most {MAX_NOTE_LENGTH} characters")
        closed, ranges = entry.get("closed"), entry.get("ranges")
        if closed is not None and not isinstance(closed, bool):
            error(f"{where}.closed", "must be true or false")
        elif closed and ranges is not None:
            error(f"{where}.ranges", "a closed day has no ranges")
        elif not closed and ranges is None:
            error(where, "give either closed: true or ranges")
        elif ranges is not None:
            if not isinstance(ranges, list) or not ranges:
                error(f"{where}.ranges", "must be a non-empty list of {open, close}")
            elif len(ranges) > MAX_RANGES_PER_SPECIAL_DAY:
                error(f"{where}.ranges", f"too many ranges ({len(ranges)}); at most {MAX_RANGES_PER_SPECIAL_DAY}")
            else:
                spans = []
                for j, item in enumerate(ranges):
                    item_where = f"{where}.ranges[{j}]"
                    if not isinstance(item, dict):
                        error(item_where, "must be an object with open and close")
                        continue
                    for key in sorted(set(item) - _RANGE_KEYS):
                        error(f"{item_where}.{key}", "unknown field; allowed: open, close")
                    times = _validate_range(item, item_where, error)
                    if times:
                        spans.append((times[0], times[0] + _length(*times), item_where))
                _report_overlaps(spans, None, error)


def _validate_range(entry: dict, where: str, error) -> tuple[int, int] | None:
    opens, closes = entry.get("open"), entry.get("close")
    ok = True
    if not _is_time(opens) or opens == "24:00":
        error(f"{where}.open", "must be a time HH:MM from 00:00 to 23:59")
        ok = False
    if not _is_time(closes):
        error(f"{where}.close", "must be a time HH:MM from 00:00 to 24:00")
        ok = False
    if not ok:
        return None
    o, c = _minutes(opens), _minutes(closes)
    if o == c % _MINUTES_PER_DAY and c != _MINUTES_PER_DAY:
        error(f"{where}.close", "equals open; for a whole day use 00:00 to 24:00")
        return None
    return o, c


def _report_overlaps(spans: list[tuple[int, int, str]], wrap: int | None, error) -> None:
    """Report overlapping spans on the later entry; with ``wrap``, spans past the end continue at 0 (Sunday night → Monday)."""
    pieces = []
    for order, (start, end, where) in enumerate(spans):
        if wrap is not None and end > wrap:
            pieces += [(start, wrap, order, where), (0, end - wrap, order, where)]
        else:
            pieces.append((start, end, order, where))
    pieces.sort()
    reported = set()
    for k, (start, end, order, where) in enumerate(pieces):
        for other_start, _other_end, other_order, other in pieces[k + 1:]:
            if other_start >= end:
                break
            if other == where:
                continue
            (_, first), (_, second) = sorted([(order, where), (other_order, other)])
            if (first, second) not in reported:
                reported.add((first, second))
                error(second.split(" ")[0], f"overlaps {first}")


# --- is it open? ------------------------------------------------------------------------------


def is_open(hours: dict | None, at_utc: datetime) -> bool | None:
    """Whether the POI is open at ``at_utc`` (an aware datetime; naive is taken as UTC) in its time zone.

    ``None`` when no hours are known (``{}``): "we don't know" is not "closed".
    """
    schedule = _Schedule.of(hours)
    return None if schedule is None else schedule.is_open(at_utc)


def is_open_json(hours_json: str | None, at_utc: datetime) -> bool | None:
    """:func:`is_open` for hours given as their stored JSON text (search results): the parsed
    schedule is cached by text, since many POIs share the same hours."""
    return None if not hours_json else _schedule_of_json(hours_json)(at_utc)


@lru_cache(maxsize=4096)
def _schedule_of_json(hours_json: str):
    schedule = _Schedule.of(json.loads(hours_json))
    return (lambda at_utc: None) if schedule is None else schedule.is_open


class _Schedule:
    """Valid opening hours in minutes: weekday -> ranges, date -> ranges (closed: none)."""

    __slots__ = ("special", "weekly", "zone")

    def __init__(self, hours: dict) -> None:
        self.zone = _zone(hours.get("timezone") or DEFAULT_TIMEZONE)
        self.weekly: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for entry in hours.get("weekly") or ():
            for day in entry["days"]:
                self.weekly[DAYS.index(day)].append((_minutes(entry["open"]), _minutes(entry["close"])))
        self.special: dict[date, list[tuple[int, int]]] = {
            date.fromisoformat(entry["date"]): (
                [] if entry.get("closed") else [(_minutes(r["open"]), _minutes(r["close"])) for r in entry["ranges"]]
            )
            for entry in hours.get("special_days") or ()
        }

    @classmethod
    def of(cls, hours: dict | None) -> _Schedule | None:
        if not hours or not (hours.get("weekly") or hours.get("special_days")):
            return None
        return cls(hours)

    def ranges_on(self, day: date) -> list[tuple[int, int]]:
        special = self.special.get(day)
        return special if special is not None else self.weekly[day.weekday()]

    def is_open(self, at_utc: datetime) -> bool:
        if at_utc.tzinfo is None:
            at_utc = at_utc.replace(tzinfo=UTC)
        local = at_utc.astimezone(self.zone)
        today = local.date()
        minute = local.hour * 60 + local.minute
        for o, c in self.ranges_on(today):
            if o <= minute < (c if c > o else _MINUTES_PER_DAY):
                return True
        for o, c in self.ranges_on(today - timedelta(days=1)):
            if c <= o and minute < c:  # last night's range running past midnight
                return True
        return False


# --- text for people --------------------------------------------------------------------------


def describe(hours: dict | None, *, today: date | None = None) -> list[str]:
    """Lines for the POI page, e.g. ``周一至周五 10:00–22:00``, ``周六 18:00–次日02:00``, ``周日 休息``.

    With ``today``, special days before it are left out.
    """
    if not hours:
        return []
    lines: list[str] = []
    weekly = hours.get("weekly") or []
    if weekly:
        per_day: list[tuple] = []
        for day in DAYS:
            ranges = sorted(
                (_minutes(w["open"]), _minutes(w["close"])) for w in weekly if day in w["days"]
            )
            per_day.append(tuple(ranges))
        groups: dict[tuple, list[int]] = {}
        for index, ranges in enumerate(per_day):
            groups.setdefault(ranges, []).append(index)
        for ranges, indexes in sorted(groups.items(), key=lambda item: (not item[0], item[1][0])):
            text = "、".join(_range_text(o, c) for o, c in ranges) if ranges else "休息"
            lines.append(f"{_days_text(indexes)} {text}")
    for entry in sorted(hours.get("special_days") or [], key=lambda e: e["date"]):
        day = date.fromisoformat(entry["date"])
        if today is not None and day < today:
            continue
        if entry.get("closed"):
            text = "休息"
        else:
            text = "、".join(
                _range_text(_minutes(r["open"]), _minutes(r["close"])) for r in entry["ranges"]
            )
        note = f"（{entry['note']}）" if entry.get("note") else ""
        lines.append(f"{day.year}年{day.month}月{day.day}日{note} {text}")
    return lines


def _days_text(indexes: list[int]) -> str:
    if len(indexes) == 7:
        return "每天"
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES_ZH[run[0]]}至{DAY_NAMES_ZH[run[-1]]}")
        else:
            parts.extend(DAY_NAMES_ZH[i] for i in run)
    return "、".join(parts)


def _range_text(o: int, c: int) -> str:
    if o == 0 and c == _MINUTES_PER_DAY:
        return "全天营业"
    close = _hhmm(c)
    if c <= o:
        close = "次日" + close
    return f"{_hhmm(o)}–{close}"


# --- small parts ------------------------------------------------------------------------------


def _length(o: int, c: int) -> int:
    return c - o if c > o else c + _MINUTES_PER_DAY - o


def _minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _is_time(value) -> bool:
    return isinstance(value, str) and _TIME.match(value) is not None


def _parse_date(value) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _is_timezone(value) -> bool:
    if not isinstance(value, str) or value not in _known_timezones():
        return False
    try:
        _zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_special_day(hours: dict | None, at_utc: datetime) -> bool:
    """Whether ``at_utc`` falls, in the POI's time zone, on one of its special days (the holidays
    and exceptions the merchant declared in its opening hours)."""
    schedule = _Schedule.of(hours)
    if schedule is None:
        return False
    if at_utc.tzinfo is None:
        at_utc = at_utc.replace(tzinfo=UTC)
    return at_utc.astimezone(schedule.zone).date() in schedule.special
