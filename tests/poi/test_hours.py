"""Opening hours: validation with field-level messages, "open now" in the POI's zone, text for the page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from gateway.poi.hours import describe, is_open, validate_opening_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]

# 2026-10-02 is a Friday; 2026-10-01 (Thursday) is the National Day holiday
BAR = {
    "weekly": [
        {"days": WEEKDAYS, "open": "10:00", "close": "22:00"},
        {"days": ["sat"], "open": "18:00", "close": "02:00"},
        {"days": ["fri"], "open": "23:00", "close": "03:00"},
    ],
    "special_days": [
        {"date": "2026-10-01", "closed": True, "note": "国庆"},
        {"date": "2026-12-31", "ranges": [{"open": "10:00", "close": "02:00"}], "note": "跨年"},
        {"date": "2026-10-03", "closed": True},
    ],
}


def local(text: str) -> datetime:
    """A Shanghai wall-clock time, as the UTC instant callers pass."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-09-28 09:59", False),  # Monday, before opening
        ("2026-09-28 10:00", True),  # opening minute is open
        ("2026-09-28 21:59", True),
        ("2026-09-28 22:00", False),  # closing minute is closed
        ("2026-10-01 12:00", False),  # Thursday, but the National Day special day is closed
        ("2026-10-02 12:00", True),  # Friday day range
        ("2026-10-02 22:30", False),  # Friday gap between the two ranges
        ("2026-10-02 23:30", True),  # Friday night range
        # Saturday 01:00: Friday's 23:00–03:00 still runs, though Saturday itself is a closed special day
        ("2026-10-03 01:00", True),
        ("2026-10-03 03:00", False),
        ("2026-10-03 19:00", False),  # the special day replaces Saturday's 18:00–02:00
        ("2026-10-04 01:00", False),  # ... so nothing runs past midnight into Sunday either
        ("2026-10-10 19:00", True),  # an ordinary Saturday evening
        ("2026-10-11 01:59", True),  # Saturday's overnight range, Sunday 01:59
        ("2026-10-11 02:00", False),
        ("2026-10-11 12:00", False),  # Sunday: no hours
        ("2026-12-31 09:00", False),  # Thursday special day with its own range
        ("2026-12-31 23:00", True),
        ("2027-01-01 01:30", True),  # New Year's Eve range runs past midnight
        ("2027-01-01 02:00", False),
    ],
)
def test_is_open(at, expected):
    assert is_open(BAR, local(at)) is expected


def test_is_open_in_the_pois_own_time_zone():
    hours = {"timezone": "Europe/Paris", "weekly": [{"days": WEEKDAYS, "open": "09:00", "close": "17:00"}]}
    # 09:30 in Paris (summer time, UTC+2) is 07:30 UTC and 15:30 in Shanghai
    assert is_open(hours, datetime(2026, 7, 6, 7, 30, tzinfo=UTC)) is True
    assert is_open(hours, datetime(2026, 7, 6, 6, 30, tzinfo=UTC)) is False
    # winter time, UTC+1
    assert is_open(hours, datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) is True
    assert is_open(hours, datetime(2026, 1, 5, 7, 59, tzinfo=UTC)) is False


def test_is_open_all_day_and_until_midnight():
    hours = {"weekly": [{"days": ["mon"], "open": "00:00", "close": "24:00"},
                        {"days": ["tue"], "open": "20:00", "close": "24:00"}]}
    assert is_open(hours, local("2026-09-28 00:00")) is True
    assert is_open(hours, local("2026-09-28 23:59")) is True
    assert is_open(hours, local("2026-09-29 19:59")) is False
    assert is_open(hours, local("2026-09-29 23:59")) is True
    assert is_open(hours, local("2026-09-30 00:00")) is False  # 24:00 is not overnight


def test_overnight_from_sunday_into_monday():
    hours = {"weekly": [{"days": ["sun"], "open": "20:00", "close": "04:00"}]}
    assert is_open(hours, local("2026-09-28 03:59")) is True  # Monday early morning
    assert is_open(hours, local("2026-09-28 04:00")) is False


def test_unknown_hours_are_neither_open_nor_closed():
    assert is_open({}, local("2026-09-28 12:00")) is None
    assert is_open(None, local("2026-09-28 12:00")) is None
    assert is_open({"weekly": [], "special_days": []}, local("2026-09-28 12:00")) is None


def test_is_open_now_with_a_frozen_clock():
    with time_machine.travel(local("2026-10-02 23:30"), tick=False):
        assert is_open(BAR, datetime.now(UTC)) is True
    naive_utc = datetime(2026, 10, 2, 15, 30)  # 23:30 in Shanghai, given without a zone
    assert is_open(BAR, naive_utc) is True


# --- validation -------------------------------------------------------------------------------


def test_valid_hours_have_no_errors():
    assert validate_opening_hours(BAR) == []
    assert validate_opening_hours({}) == []
    assert validate_opening_hours({"timezone": "Asia/Urumqi", "weekly": []}) == []
    assert validate_opening_hours({"weekly": [{"days": ["mon"], "open": "00:00", "close": "24:00"}]}) == []
    # touching ranges are fine
    assert validate_opening_hours({"weekly": [
        {"days": ["mon"], "open": "10:00", "close": "14:00"},
        {"days": ["mon"], "open": "14:00", "close": "22:00"},
    ]}) == []


def _one(days=("mon",), open_="10:00", close="22:00") -> dict:
    return {"weekly": [{"days": list(days), "open": open_, "close": close}]}


@pytest.mark.parametrize(
    ("value", "field", "needle"),
    [
        ("10:00-22:00", "opening_hours", "must be an object"),
        ({"weekly": {}}, "opening_hours.weekly", "must be a list"),
        ({"hours": []}, "opening_hours.hours", "unknown field"),
        ({"timezone": "Mars/Olympus"}, "opening_hours.timezone", "unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "opening_hours.timezone", "unknown time zone"),
        ({"timezone": 8}, "opening_hours.timezone", "unknown time zone"),
        (_one(open_="25:00"), "opening_hours.weekly[0].open", "HH:MM"),
        (_one(open_="9:00"), "opening_hours.weekly[0].open", "HH:MM"),
        (_one(open_="24:00"), "opening_hours.weekly[0].open", "HH:MM"),
        (_one(close="22:60"), "opening_hours.weekly[0].close", "HH:MM"),
        (_one(close=2200), "opening_hours.weekly[0].close", "HH:MM"),
        (_one(close="10:00"), "opening_hours.weekly[0].close", "equals open"),
        (_one(days=["monday"]), "opening_hours.weekly[0].days", "unknown day"),
        (_one(days=[]), "opening_hours.weekly[0].days", "non-empty"),
        (_one(days=["mon", "mon"]), "opening_hours.weekly[0].days", "twice"),
        ({"weekly": [{"days": ["mon"], "open": "10:00", "close": "22:00", "x": 1}]},
         "opening_hours.weekly[0].x", "unknown field"),
        ({"weekly": [{"days": ["mon", "tue"], "open": "10:00", "close": "22:00"},
                     {"days": ["tue"], "open": "21:00", "close": "23:00"}]},
         "opening_hours.weekly[1]", "overlaps opening_hours.weekly[0] (tue)"),
        # an overnight range overlapping the next day's range
        ({"weekly": [{"days": ["fri"], "open": "18:00", "close": "02:00"},
                     {"days": ["sat"], "open": "01:00", "close": "12:00"}]},
         "opening_hours.weekly[1]", "overlaps opening_hours.weekly[0] (fri)"),
        # Sunday night into Monday morning wraps the week
        ({"weekly": [{"days": ["mon"], "open": "03:00", "close": "12:00"},
                     {"days": ["sun"], "open": "22:00", "close": "04:00"}]},
         "opening_hours.weekly[1]", "overlaps"),
        ({"weekly": [{"days": ["mon"], "open": "00:00", "close": "24:00"}] * 29},
         "opening_hours.weekly", "too many entries"),
        ({"special_days": [{"date": "2026-02-30", "closed": True}]},
         "opening_hours.special_days[0].date", "YYYY-MM-DD"),
        ({"special_days": [{"date": "2026/10/01", "closed": True}]},
         "opening_hours.special_days[0].date", "YYYY-MM-DD"),
        ({"special_days": [{"date": "2026-10-01", "closed": True}, {"date": "2026-10-01", "closed": True}]},
         "opening_hours.special_days[1].date", "already given"),
        ({"special_days": [{"date": "2026-10-01"}]}, "opening_hours.special_days[0]", "either closed"),
        ({"special_days": [{"date": "2026-10-01", "closed": True, "ranges": []}]},
         "opening_hours.special_days[0].ranges", "closed day has no ranges"),
        ({"special_days": [{"date": "2026-10-01", "ranges": []}]},
         "opening_hours.special_days[0].ranges", "non-empty"),
        ({"special_days": [{"date": "2026-10-01", "closed": "yes"}]},
         "opening_hours.special_days[0].closed", "true or false"),
        ({"special_days": [{"date": "2026-10-01", "closed": True, "note": "x" * 51}]},
         "opening_hours.special_days[0].note", "at most 50"),
        ({"special_days": [{"date": "2026-10-01", "ranges": [{"open": "10:00", "close": "14:00"},
                                                              {"open": "13:00", "close": "15:00"}]}]},
         "opening_hours.special_days[0].ranges[1]", "overlaps opening_hours.special_days[0].ranges[0]"),
        ({"special_days": [{"date": "2026-10-01", "ranges": [{"open": "10:00", "close": "1400"}]}]},
         "opening_hours.special_days[0].ranges[0].close", "HH:MM"),
        ({"special_days": [{"date": "2026-01-01", "closed": True}] * 367},
         "opening_hours.special_days", "too many entries"),
    ],
)
def test_invalid_hours_name_the_field(value, field, needle):
    errors = validate_opening_hours(value)
    assert any(e["field"] == field and needle in e["message"] for e in errors), errors


def test_every_problem_is_reported_at_once():
    errors = validate_opening_hours({
        "timezone": "Nowhere/City",
        "weekly": [{"days": ["funday"], "open": "10:00", "close": "99:00"}],
        "special_days": [{"date": "tomorrow", "closed": True}],
    })
    assert {e["field"] for e in errors} == {
        "opening_hours.timezone",
        "opening_hours.weekly[0].days",
        "opening_hours.weekly[0].close",
        "opening_hours.special_days[0].date",
    }


def test_the_field_prefix_can_be_chosen():
    errors = validate_opening_hours(_one(open_="x"), field="items[3].opening_hours")
    assert errors[0]["field"] == "items[3].opening_hours.weekly[0].open"


# --- text -------------------------------------------------------------------------------------


def test_describe():
    assert describe(BAR) == [
        "周一至周四 10:00–22:00",
        "周五 10:00–22:00、23:00–次日03:00",
        "周六 18:00–次日02:00",
        "周日 休息",
        "2026年10月1日（国庆） 休息",
        "2026年10月3日 休息",
        "2026年12月31日（跨年） 10:00–次日02:00",
    ]


@pytest.mark.parametrize(
    ("weekly", "lines"),
    [
        ([{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00", "close": "24:00"}],
         ["每天 全天营业"]),
        ([{"days": ["sat", "sun"], "open": "09:00", "close": "18:00"}],
         ["周六、周日 09:00–18:00", "周一至周五 休息"]),
        ([{"days": ["mon", "wed", "thu", "fri"], "open": "11:00", "close": "14:00"},
          {"days": ["mon", "wed", "thu", "fri"], "open": "17:00", "close": "24:00"}],
         ["周一、周三至周五 11:00–14:00、17:00–24:00", "周二、周六、周日 休息"]),
    ],
)
def test_describe_groups_days(weekly, lines):
    assert describe({"weekly": weekly}) == lines


def test_describe_leaves_out_past_special_days_and_unknown_hours():
    assert describe(BAR, today=date(2026, 10, 2))[-2:] == ["2026年10月3日 休息", "2026年12月31日（跨年） 10:00–次日02:00"]
    assert describe({}) == []
