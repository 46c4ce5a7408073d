"""The calendar: whether the hotline and a topic take calls at a moment, and when they open next."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from profiles.calendar import day_hours, is_open, next_opening
from profiles.model import DayHours, OpeningHours, SpecialDay, load_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module")
def base():
    return load_profile(PROFILE)


def office(base, zone="Asia/Kuwait", hours=None, holidays=(), topic_hours=None):
    """The 151 profile open 08:00-14:00 every day (or ``hours``) in ``zone``; ``topic_hours``: id -> hours."""
    hours = (OpeningHours(WEEK, time(8), time(14)),) if hours is None else hours
    topics = tuple(
        replace(t, hours=(topic_hours or {}).get(t.id, ())) for t in base.topics
    )  # the 151 topics, with the hours given here
    return replace(base, timezone=zone, hours=hours, holidays=tuple(holidays), topics=topics)


def at(zone, *parts):
    return datetime(*parts, tzinfo=ZoneInfo(zone))


def test_kuwait_hours_are_read_on_kuwaits_clock(base):
    profile = office(base)
    assert is_open(profile, datetime(2026, 3, 1, 5, 0, tzinfo=UTC))  # 08:00 in Kuwait (UTC+3)
    assert not is_open(profile, datetime(2026, 3, 1, 4, 59, tzinfo=UTC))
    assert not is_open(profile, datetime(2026, 3, 1, 11, 0, tzinfo=UTC))  # 14:00: closed
    assert next_opening(profile, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) == at("Asia/Kuwait", 2026, 3, 2, 8, 0)


def test_muscat_and_utc_differ_by_their_offsets(base):
    muscat, utc = office(base, "Asia/Muscat"), office(base, "UTC")
    moment = datetime(2026, 6, 1, 4, 30, tzinfo=UTC)  # 08:30 in Muscat (UTC+4), 04:30 in UTC
    assert is_open(muscat, moment) and not is_open(utc, moment)
    assert next_opening(utc, moment) == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert next_opening(muscat, moment) == moment  # open now: now
    assert next_opening(muscat, moment).utcoffset() == timedelta(hours=4)


def test_london_around_the_spring_switch_keeps_the_wall_clock(base):
    london = office(base, "Europe/London")
    # 2026-03-29: clocks go from 01:00 GMT to 02:00 BST. Opening 08:00 local is 07:00 UTC that day.
    assert not is_open(london, datetime(2026, 3, 29, 6, 59, tzinfo=UTC))
    assert is_open(london, datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
    opening = next_opening(london, datetime(2026, 3, 28, 20, 0, tzinfo=UTC))
    assert opening == datetime(2026, 3, 29, 7, 0, tzinfo=UTC) and opening.utcoffset() == timedelta(hours=1)
    # The day before, 08:00 was still 08:00 UTC.
    assert next_opening(london, datetime(2026, 3, 27, 20, 0, tzinfo=UTC)) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)


def test_an_opening_inside_the_dst_gap_is_the_real_moment_after_it(base):
    night = office(base, "Europe/London", hours=(OpeningHours(WEEK, time(1, 30), time(3)),))
    # 01:30 does not exist on 2026-03-29 in London: read as 01:30 GMT = 02:30 BST.
    opening = next_opening(night, datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert opening == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert is_open(night, opening)


def test_london_autumn_switch(base):
    london = office(base, "Europe/London")
    # 2026-10-25: back to GMT; 08:00 local is 08:00 UTC that day, and 07:00 UTC the day before.
    assert next_opening(london, datetime(2026, 10, 24, 20, 0, tzinfo=UTC)) == datetime(2026, 10, 25, 8, tzinfo=UTC)
    assert is_open(london, datetime(2026, 10, 24, 7, 0, tzinfo=UTC))
    assert not is_open(london, datetime(2026, 10, 25, 7, 0, tzinfo=UTC))


def test_a_night_across_midnight_is_one_stretch(base):
    night = office(
        base,
        "UTC",
        hours=(OpeningHours(("fri",), time(20), "24:00"), OpeningHours(("sat",), time(0), time(6))),
    )
    # 2026-03-06 is a Friday.
    assert is_open(night, datetime(2026, 3, 6, 23, 59, tzinfo=UTC))
    assert is_open(night, datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    assert is_open(night, datetime(2026, 3, 7, 5, 59, tzinfo=UTC))
    assert not is_open(night, datetime(2026, 3, 7, 6, 0, tzinfo=UTC))
    assert next_opening(night, datetime(2026, 3, 7, 6, 0, tzinfo=UTC)) == datetime(2026, 3, 13, 20, tzinfo=UTC)
    assert next_opening(night, datetime(2026, 3, 6, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 6, 20, tzinfo=UTC)


def test_special_days_across_the_year_end(base):
    new_year = SpecialDay(date=date(2026, 12, 31), until=date(2027, 1, 1), name="new year")  # closed
    profile = office(base, holidays=[new_year])
    assert not is_open(profile, at("Asia/Kuwait", 2026, 12, 31, 10, 0))
    assert not is_open(profile, at("Asia/Kuwait", 2027, 1, 1, 10, 0))
    assert is_open(profile, at("Asia/Kuwait", 2027, 1, 2, 10, 0))
    assert next_opening(profile, at("Asia/Kuwait", 2026, 12, 30, 15, 0)) == at("Asia/Kuwait", 2027, 1, 2, 8, 0)


def test_a_holiday_with_reduced_hours_replaces_the_usual_ones(base):
    eid = SpecialDay(date=date(2026, 5, 27), name="eid", hours=(DayHours(time(10), time(12)),))
    profile = office(base, holidays=[eid])
    assert day_hours(profile, date(2026, 5, 27)) == ((time(10), time(12)),)
    assert not is_open(profile, at("Asia/Kuwait", 2026, 5, 27, 9, 0))
    assert is_open(profile, at("Asia/Kuwait", 2026, 5, 27, 11, 0))
    assert not is_open(profile, at("Asia/Kuwait", 2026, 5, 27, 13, 0))
    assert next_opening(profile, at("Asia/Kuwait", 2026, 5, 27, 7, 0)) == at("Asia/Kuwait", 2026, 5, 27, 10, 0)
    assert next_opening(profile, at("Asia/Kuwait", 2026, 5, 27, 12, 0)) == at("Asia/Kuwait", 2026, 5, 28, 8, 0)


def test_a_topic_open_around_the_clock_stays_open_on_a_holiday(base):
    holiday = SpecialDay(date=date(2026, 2, 25), name="national day")  # closed, every topic
    always = (OpeningHours(WEEK, time(0), "24:00"),)
    profile = office(base, holidays=[holiday], topic_hours={"complaints": always})
    moment = at("Asia/Kuwait", 2026, 2, 25, 3, 0)
    assert is_open(profile, moment, "complaints")
    assert not is_open(profile, moment) and not is_open(profile, moment, "general")
    assert next_opening(profile, moment, "general") == at("Asia/Kuwait", 2026, 2, 26, 8, 0)


def test_doctors_follow_their_own_hours_and_a_holiday_that_names_them(base):
    doctors = (OpeningHours(("sun", "mon", "tue", "wed", "thu"), time(8), time(20)),)
    closed_for_doctors = SpecialDay(date=date(2027, 2, 25), topics=("medical",))  # a Thursday
    profile = office(base, holidays=[closed_for_doctors], topic_hours={"medical": doctors})
    assert is_open(profile, at("Asia/Kuwait", 2027, 2, 24, 19, 0), "medical")  # Wednesday evening
    assert not is_open(profile, at("Asia/Kuwait", 2027, 2, 24, 19, 0))  # the hotline closed at 14:00
    assert not is_open(profile, at("Asia/Kuwait", 2027, 2, 25, 10, 0), "medical")
    assert is_open(profile, at("Asia/Kuwait", 2027, 2, 25, 10, 0), "general")  # not named: usual hours
    # Thursday is the holiday, Friday and Saturday no doctors: Sunday 08:00.
    assert next_opening(profile, at("Asia/Kuwait", 2027, 2, 24, 21, 0), "medical") == at(
        "Asia/Kuwait", 2027, 2, 28, 8, 0
    )


def test_special_days_from_the_console_count_like_the_profiles(base):
    profile = office(base)
    extra = [SpecialDay(date=date(2026, 12, 2), hours=(DayHours(time(9), time(10)),))]
    moment = at("Asia/Kuwait", 2026, 12, 2, 11, 0)
    assert is_open(profile, moment) and not is_open(profile, moment, extra=extra)
    assert next_opening(profile, moment, "general", extra) == at("Asia/Kuwait", 2026, 12, 3, 8, 0)


def test_always_open_and_never_open_have_no_next_opening(base):
    always = office(base, hours=())
    assert is_open(always, datetime(2026, 1, 1, tzinfo=UTC))
    assert next_opening(always, datetime(2026, 1, 1, tzinfo=UTC)) is None
    never = office(base, hours=(OpeningHours(("mon",), time(8), time(9)),))
    gone = replace(never, holidays=(SpecialDay(date=date(2026, 1, 1), until=date(2028, 1, 1)),))
    assert next_opening(gone, datetime(2026, 1, 1, tzinfo=UTC)) is None
    # A holiday ahead of a 24/7 hotline: it opens again the next midnight.
    closed_day = replace(always, holidays=(SpecialDay(date=date(2026, 1, 2)),))
    assert next_opening(closed_day, datetime(2026, 1, 2, 5, tzinfo=UTC)) == at("Asia/Kuwait", 2026, 1, 3, 0, 0)


def test_a_naive_moment_and_an_unknown_topic_are_refused(base):
    profile = office(base)
    with pytest.raises(ValueError, match="aware"):
        is_open(profile, datetime(2026, 1, 1, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        next_opening(profile, datetime(2026, 1, 1, 10, 0))
    with pytest.raises(KeyError):
        is_open(profile, datetime(2026, 1, 1, tzinfo=UTC), "weather")
