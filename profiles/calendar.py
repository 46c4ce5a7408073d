"""When the hotline, and each topic, takes calls: the opening hours with the special days (pure).

* A topic with its own ``hours`` follows them (doctors by day, complaints 24/7); the others follow the
  hotline's ``hours`` (none: 24/7).
* A special day (a holiday, a day of reduced hours) covering the local date replaces the usual hours of
  the topics it names; one that names no topic replaces the hotline's hours, and so those of every topic
  without hours of its own (a topic open 24/7 by its own hours stays open on a public holiday). Its hours
  (none: closed all day) are used as given; several special days on one date add their hours up.
* The special days are the profile's ``holidays`` and the ones the console adds (``extra``).

Everything is computed on the local wall clock of the profile's time zone (``zoneinfo``): a moment is an
aware datetime, and a day's hours become moments on that date, so a DST switch moves them with the clock.
A closing time of "24:00" (None) is midnight at the end of the day; a night open across midnight is one
rule until 24:00 and one from 00:00 the next day, and reads as one stretch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from profiles.model import DAYS, Profile, SpecialDay, Topic

__all__ = ["HORIZON_DAYS", "day_hours", "is_open", "next_opening", "special_day"]

#: How far ahead :func:`next_opening` looks before it says "never".
HORIZON_DAYS = 400

Interval = tuple[time, time | None]  # open, close (None: midnight at the end of the day)
_WHOLE_DAY: tuple[Interval, ...] = ((time(0), None),)


def _topic(profile: Profile, topic: str | Topic | None) -> Topic | None:
    if topic is None or isinstance(topic, Topic):
        return topic
    return profile.topic(topic)


def _applies(day: SpecialDay, topic: Topic | None) -> bool:
    """Whether ``day`` sets the hours of ``topic`` (None: the hotline as a whole)."""
    if day.topics:
        return topic is not None and topic.id in day.topics
    return topic is None or not topic.hours


def special_day(
    profile: Profile, local_day: date, topic: str | Topic | None = None, extra: Iterable[SpecialDay] = ()
) -> list[SpecialDay]:
    """The special days that set the hours of ``topic`` (None: the hotline) on ``local_day``."""
    chosen = _topic(profile, topic)
    return [d for d in (*profile.holidays, *extra) if d.covers(local_day) and _applies(d, chosen)]


def day_hours(
    profile: Profile, local_day: date, topic: str | Topic | None = None, extra: Iterable[SpecialDay] = ()
) -> tuple[Interval, ...]:
    """The opening intervals of ``topic`` (None: the hotline) on ``local_day``, sorted."""
    chosen = _topic(profile, topic)
    specials = special_day(profile, local_day, chosen, extra)
    if specials:
        return tuple(sorted((h.open, h.close) for d in specials for h in d.hours))
    rules = chosen.hours if chosen is not None and chosen.hours else profile.hours
    if not rules:
        return _WHOLE_DAY
    weekday = DAYS[local_day.weekday()]
    return tuple(sorted((r.open, r.close) for r in rules if weekday in r.days))


def _contains(interval: Interval, clock: time) -> bool:
    opens, closes = interval
    return opens <= clock and (closes is None or clock < closes)


def is_open(
    profile: Profile, moment: datetime, topic: str | Topic | None = None, extra: Sequence[SpecialDay] = ()
) -> bool:
    """Whether ``topic`` (None: the hotline) takes calls at ``moment`` (an aware datetime)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be an aware datetime")
    local = moment.astimezone(ZoneInfo(profile.timezone))
    clock = local.time().replace(tzinfo=None)
    return any(_contains(i, clock) for i in day_hours(profile, local.date(), topic, extra))


def _always_open(profile: Profile, topic: Topic | None, today: date, extra: Sequence[SpecialDay]) -> bool:
    rules = topic.hours if topic is not None and topic.hours else profile.hours
    if rules:
        return False
    return not any((d.until or d.date) >= today and _applies(d, topic) for d in (*profile.holidays, *extra))


def next_opening(
    profile: Profile,
    moment: datetime,
    topic: str | Topic | None = None,
    extra: Sequence[SpecialDay] = (),
    horizon_days: int = HORIZON_DAYS,
) -> datetime | None:
    """The first moment at or after ``moment`` when ``topic`` (None: the hotline) takes calls, in the
    profile's time zone (``moment`` itself while open). None when it is always open (no hours and no
    special day ahead), or never opens within ``horizon_days``."""
    if moment.tzinfo is None:
        raise ValueError("moment must be an aware datetime")
    zone = ZoneInfo(profile.timezone)
    chosen = _topic(profile, topic)
    local = moment.astimezone(zone)
    if _always_open(profile, chosen, local.date(), extra):
        return None
    if is_open(profile, moment, chosen, extra):
        return local
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        for opens, closes in day_hours(profile, day, chosen, extra):
            # Through UTC: a time in a DST gap (01:30 on the spring-forward night) becomes the real moment.
            start = datetime.combine(day, opens, tzinfo=zone).astimezone(UTC)
            end = datetime.combine(day + timedelta(days=1) if closes is None else day, closes or time(0), tzinfo=zone)
            if start >= moment and end.astimezone(UTC) > start:
                return start.astimezone(zone)
    return None
