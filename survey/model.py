"""The post-call survey, pure: one caller's answers and the satisfaction figures over many.

A response is one surveyed call: the answers to the profile's first and (optional) second question, each
1..max or None ("no answer": the caller hung up, keyed nothing, or keyed only invalid keys). A caller who
does not answer is never counted as a low score: they count as asked, not as answered.

The figures, per topic, per agent or per interval (UTC, ``interval_minutes`` wide):

* **asked**: surveys started (one per surveyed call);
* **answered**: those with an answer to the first question;
* **satisfied**: answers in the top boxes of the first question's scale: 4 and 5 of 1..5 (the "top two
  boxes"); on a scale of 4..9 the top two likewise, on a scale of 1..3 only the top one;
* **satisfaction** = satisfied / answered, **response rate** = answered / asked (None when the divisor is 0).

``survey.db.SurveyStore.figures`` computes the same in SQL; tests hold the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Dimension = Literal["topic", "agent", "interval"]
DIMENSIONS: tuple[Dimension, ...] = ("topic", "agent", "interval")
ALLOWED_INTERVALS = (15, 30, 60)
NO_KEY = "-"  # the group of responses without a topic or an agent


@dataclass(frozen=True)
class SurveyResponse:
    """One surveyed call (``linkedid`` links it to the call's record, and so to its agent)."""

    linkedid: str
    asked_at: datetime
    topic: str | None = None
    agent: str | None = None
    language: str | None = None
    first: int | None = None
    second: int | None = None

    def __post_init__(self) -> None:
        if not self.linkedid:
            raise ValueError("a survey response needs the call's linkedid")
        if self.asked_at.tzinfo is None:
            raise ValueError("asked_at must be an aware datetime")
        for name, answer in (("first", self.first), ("second", self.second)):
            if answer is not None and (isinstance(answer, bool) or not 1 <= answer <= 9):
                raise ValueError(f"{name} must be 1..9 or None (no answer), got {answer!r}")


@dataclass(frozen=True)
class Figures:
    asked: int = 0
    answered: int = 0
    satisfied: int = 0

    @property
    def satisfaction(self) -> float | None:
        """The share of satisfied answers among the answers (None without an answer)."""
        return self.satisfied / self.answered if self.answered else None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.asked if self.asked else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.asked + other.asked, self.answered + other.answered, self.satisfied + other.satisfied)


def satisfied_from(max_score: int) -> int:
    """The lowest answer counted as satisfied on a 1..``max_score`` scale: the top two boxes from 4 up, else
    the top one (5 -> 4, 9 -> 8, 3 -> 3, 2 -> 2, 1 -> 1)."""
    if isinstance(max_score, bool) or not 1 <= max_score <= 9:
        raise ValueError(f"a survey scale is 1..max with max 1..9, got {max_score!r}")
    return max_score - 1 if max_score >= 4 else max_score


def interval_seconds(interval_minutes: int) -> int:
    if interval_minutes not in ALLOWED_INTERVALS:
        raise ValueError(f"interval must be one of {ALLOWED_INTERVALS} minutes, got {interval_minutes!r}")
    return interval_minutes * 60


def bucket_of(moment: datetime, interval_minutes: int) -> int:
    """The start of the interval holding ``moment``, as UTC epoch seconds."""
    width = interval_seconds(interval_minutes)
    return math.floor(moment.timestamp()) // width * width


def key_of(response: SurveyResponse, by: Dimension, interval_minutes: int = 30) -> str | int:
    if by == "topic":
        return response.topic or NO_KEY
    if by == "agent":
        return response.agent or NO_KEY
    if by == "interval":
        return bucket_of(response.asked_at, interval_minutes)
    raise ValueError(f"figures are per {', '.join(DIMENSIONS)}, not {by!r}")


def figures(
    responses: Iterable[SurveyResponse], max_score: int, by: Dimension, interval_minutes: int = 30
) -> dict[str | int, Figures]:
    """The figures of each group (the reference the SQL twin is held to)."""
    threshold = satisfied_from(max_score)
    interval_seconds(interval_minutes)
    out: dict[str | int, Figures] = {}
    for response in responses:
        key = key_of(response, by, interval_minutes)
        answered = response.first is not None
        satisfied = answered and response.first is not None and response.first >= threshold
        out[key] = out.get(key, Figures()) + Figures(1, int(answered), int(satisfied))
    return out


def total(groups: Mapping[str | int, Figures]) -> Figures:
    result = Figures()
    for group in groups.values():
        result += group
    return result


def percent(share: float | None) -> str:
    """A share for people: ``80%``, or ``-`` when there is nothing to divide."""
    return "-" if share is None else f"{round(share * 100)}%"


def answer_of(keyed: str, max_score: int) -> int | None:
    """What a caller keyed, as an answer: 1..``max_score``, else None (nothing, or an invalid key)."""
    if len(keyed) == 1 and keyed in "123456789" and 1 <= int(keyed) <= max_score:
        return int(keyed)
    return None
