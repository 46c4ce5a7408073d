"""Outbound work (issue 14): what a contact, a campaign attempt and an alert are, and the pure rules of a
campaign's day. Pure: plain data and the time in (aware UTC datetimes), plain data out.

- **The window**: a campaign calls on its days between its start and end, in the profile's local time, and
  never in the outbound quiet hours. A person's day is the local date (the "window" of exactly-once).
- **Attempts**: at most ``attempts_per_day`` a day per person, the next one ``retry_after_seconds`` after the
  last ended (the last value repeats). A person is *reached* once an attempt was answered (whatever they
  keyed): never called again that day. An attempt whose fate is unknown (the service stopped after the
  dial) is never re-dialled that day either: calling a person twice is worse than missing one, and the
  console lists them.
- **Progressive pacing**: a call is placed only while a person of the doctor queue is free to take a
  "doctor" key who is not already covered by a call in flight (ringing or in the script), and never more
  than ``max_concurrent`` at once. So nobody who presses 2 waits on a dead line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from profiles.model import DAYS, Campaign, OutboundRules


class Outcome(StrEnum):
    """How an attempt ended."""

    ANSWERED = "answered"  # the person answered (the key, if any, is in ``Attempt.key`` and ``action``)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the call could not be placed
    REFUSED = "refused"  # not dialled: the number is not allowed or is on the do-not-call list (checked at dial time)
    UNKNOWN = "unknown"  # the service stopped after the dial: never re-dialled that day


class Action(StrEnum):
    """What the key the person pressed did (the profile's ``SCRIPT_ACTIONS``), or none."""

    WELL = "well"
    DOCTOR = "doctor"
    EMERGENCY = "emergency"
    NONE = "none"  # answered, but no valid key (hung up, or keyed nothing)


class DayState(StrEnum):
    """Where a person stands in a campaign's day."""

    PENDING = "pending"  # to be called (now or after the backoff)
    IN_FLIGHT = "in_flight"  # an attempt is claimed or under way
    REACHED = "reached"  # answered: done for the day
    NOT_REACHED = "not_reached"  # every attempt of the day used up without an answer
    UNKNOWN = "unknown"  # an attempt's fate is unknown (a restart): not called again today
    REFUSED = "refused"  # the number may not be dialled (not allowed, do-not-call)


@dataclass(frozen=True)
class Contact:
    """A person of a list: imported from a CSV row (its ``line``), their number normalised."""

    id: int | None
    list_id: int
    number: str
    name: str
    language: str
    district: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # the file's other columns
    line: int = 0


@dataclass(frozen=True)
class Attempt:
    """One call to one person in one campaign's day: claimed by one service instance, dialled once."""

    id: int | None
    campaign: str
    contact_id: int
    day: date  # the local date of the campaign's window
    number: int  # 1, 2, ... within the day
    claimed_at: datetime
    claimed_by: str
    dialed_at: datetime | None = None  # set BEFORE the Originate is sent
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome | None = None  # None while in flight
    key: str | None = None  # the key pressed, as pressed
    action: Action | None = None
    agent: str | None = None  # the person (profile id) who took a "doctor"
    linkedid: str | None = None  # the call's record


@dataclass(frozen=True)
class Alert:
    """An emergency key: shown on the console's wallboard until a supervisor acknowledges it."""

    id: int | None
    campaign: str
    attempt_id: int
    contact_id: int
    number: str
    name: str
    raised_at: datetime
    linkedid: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


def local_day(timezone: str, now: datetime) -> date:
    """The local date of ``now``: the day a campaign's attempts belong to."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _in_quiet_hours(rules: OutboundRules, clock: time) -> bool:
    quiet = rules.quiet_hours
    if quiet is None or quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end  # over midnight


def window_open(campaign: Campaign, rules: OutboundRules, timezone: str, now: datetime) -> bool:
    """Whether ``campaign`` may place a call at ``now``: enabled, on one of its days, inside its window and
    outside the quiet hours."""
    local = now.astimezone(ZoneInfo(timezone))
    clock = local.time().replace(tzinfo=None)
    return (
        campaign.enabled
        and DAYS[local.weekday()] in campaign.window.days
        and campaign.window.start <= clock < campaign.window.end
        and not _in_quiet_hours(rules, clock)
    )


def retry_delay(campaign: Campaign, attempts_made: int) -> timedelta:
    """The wait after the ``attempts_made``-th attempt of a day ended unanswered (the last value repeats)."""
    delays = campaign.retry_after_seconds
    return timedelta(seconds=delays[min(attempts_made, len(delays)) - 1])


def day_state(campaign: Campaign, attempts: Sequence[Attempt]) -> DayState:
    """Where a person stands, from their attempts of one day in one campaign."""
    if any(a.outcome is Outcome.ANSWERED for a in attempts):
        return DayState.REACHED
    if any(a.outcome is None for a in attempts):
        return DayState.IN_FLIGHT
    if any(a.outcome is Outcome.UNKNOWN for a in attempts):
        return DayState.UNKNOWN
    if any(a.outcome is Outcome.REFUSED for a in attempts):
        return DayState.REFUSED
    if len(attempts) >= campaign.attempts_per_day:
        return DayState.NOT_REACHED
    return DayState.PENDING


def next_attempt_at(campaign: Campaign, attempts: Sequence[Attempt]) -> datetime | None:
    """When the next attempt of the day may be made (``telephony.clock.EPOCH``-free: None when none may:
    reached, in flight, unknown, refused or every attempt used up; the first attempt: ``datetime.min`` in UTC,
    i.e. at once)."""
    if day_state(campaign, attempts) is not DayState.PENDING:
        return None
    if not attempts:
        return datetime.min.replace(tzinfo=ZoneInfo("UTC"))
    last = max(attempts, key=lambda a: a.number)
    ended = last.ended_at or last.claimed_at
    return ended + retry_delay(campaign, len(attempts))


def progressive_slots(*, free_people: int, in_flight: int, max_concurrent: int) -> int:
    """How many new calls may be placed now: one for each person free to take a "doctor" key who is not
    already covered by a call in flight (ringing, or in the script), within the cap of concurrent calls."""
    return max(0, min(max_concurrent, free_people) - in_flight)
