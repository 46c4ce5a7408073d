"""The survey's figures for people: rows per topic, per agent and per interval, labelled in Arabic or English.

Shared by ``hotline survey report`` (survey/cli.py) and the console page (console/survey_pages.py). Topics are
named by their label in the reader's language, agents by their name in the profile, intervals by their start in
the hotline's time zone. Satisfaction is the share of the top boxes of the first question (4 and 5 of 1..5) among
its answers; the response rate is answered / asked (see survey/model.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from profiles.model import Profile
from survey.model import DIMENSIONS, NO_KEY, Dimension, Figures, percent, satisfied_from, total

LANGUAGES = ("ar", "en")

LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Caller satisfaction",
        "by.topic": "Per topic",
        "by.agent": "Per agent",
        "by.interval": "Per half hour",
        "by.interval.15": "Per quarter hour",
        "by.interval.60": "Per hour",
        "head.topic": "Topic",
        "head.agent": "Agent",
        "head.interval": "From",
        "asked": "Asked",
        "answered": "Answered",
        "response_rate": "Response rate",
        "satisfied": "Satisfied ({top})",
        "satisfaction": "Satisfaction",
        "all": "All",
        "none": "No survey in this period.",
        "nobody": "(none)",
        "period": "Period",
        "day": "Day",
        "show": "Show",
        "no_survey": "This hotline has no survey.",
        "not_allowed": "This page is for supervisors and viewers.",
        "bad_day": "the day must look like 2027-03-01",
        "explain": "Satisfaction: the share of {top} among the answers to the first question; "
        "a caller who did not answer counts in the response rate only, never as a low score.",
    },
    "ar": {
        "title": "رضا المتصلين",
        "by.topic": "حسب الموضوع",
        "by.agent": "حسب الموظف",
        "by.interval": "حسب نصف الساعة",
        "by.interval.15": "حسب ربع الساعة",
        "by.interval.60": "حسب الساعة",
        "head.topic": "الموضوع",
        "head.agent": "الموظف",
        "head.interval": "من",
        "asked": "سُئلوا",
        "answered": "أجابوا",
        "response_rate": "نسبة الاستجابة",
        "satisfied": "راضون ({top})",
        "satisfaction": "نسبة الرضا",
        "all": "الكل",
        "none": "لا استبيان في هذه الفترة.",
        "nobody": "(بلا)",
        "period": "الفترة",
        "day": "اليوم",
        "show": "اعرض",
        "no_survey": "لا استبيان في هذا الخط.",
        "not_allowed": "هذه الصفحة للمشرفين والمطلعين.",
        "bad_day": "يجب أن يكون اليوم بالشكل 2027-03-01",
        "explain": "نسبة الرضا: حصة {top} من إجابات السؤال الأول؛ من لم يجب يُحسب في نسبة الاستجابة فقط، "
        "ولا يُحسب تقييماً منخفضاً.",
    },
}


def label(lang: str, key: str, **values: Any) -> str:
    """The label ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    text = LABELS.get(lang, {}).get(key) or LABELS["en"].get(key) or key
    return text.format(**values) if values else text


def top_boxes(max_score: int) -> str:
    """The answers counted as satisfied, for people: ``4-5`` (of 1..5), ``2`` (of 1..2)."""
    low = satisfied_from(max_score)
    return f"{low}-{max_score}" if low < max_score else str(max_score)


@dataclass(frozen=True)
class Row:
    key: str | int
    name: str
    figures: Figures

    @property
    def response_rate(self) -> str:
        return percent(self.figures.response_rate)

    @property
    def satisfaction(self) -> str:
        return percent(self.figures.satisfaction)


@dataclass(frozen=True)
class Section:
    by: Dimension
    title: str
    head: str
    rows: tuple[Row, ...]
    total: Figures


def first_max(profile: Profile) -> int:
    if profile.survey is None:
        raise ValueError("this profile has no survey")
    return profile.survey.questions[0].max


def _name(profile: Profile, by: Dimension, key: str | int, lang: str, zone: ZoneInfo) -> str:
    if by == "interval":
        assert isinstance(key, int)
        return datetime.fromtimestamp(key, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if key == NO_KEY:
        return label(lang, "nobody")
    if by == "topic":
        try:
            labels = profile.topic(str(key)).label
            return labels.get(lang) or next(iter(labels.values()))
        except KeyError:
            return str(key)
    person = next((p for p in profile.people if p.id == key), None)
    return f"{person.name} ({key})" if person is not None else str(key)


def section(
    profile: Profile, by: Dimension, groups: Mapping[str | int, Figures], lang: str, interval_minutes: int = 30
) -> Section:
    zone = ZoneInfo(profile.timezone)
    rows = [Row(key, _name(profile, by, key, lang, zone), figures) for key, figures in groups.items()]
    if by == "topic":
        order = {t.id: n for n, t in enumerate(profile.topics)}
        rows.sort(key=lambda r: (order.get(str(r.key), len(order)), str(r.key)))
    elif by == "agent":
        rows.sort(key=lambda r: (r.key == NO_KEY, r.name))
    else:
        rows.sort(key=lambda r: int(r.key))
    if by == "interval" and interval_minutes != 30:
        title = label(lang, f"by.interval.{interval_minutes}")
    else:
        title = label(lang, f"by.{by}")
    return Section(by, title, label(lang, f"head.{by}"), tuple(rows), total(groups))


def render_text(profile: Profile, sections: list[Section], lang: str, period: str = "") -> str:
    """The sections as plain-text tables."""
    top = top_boxes(first_max(profile))
    columns = [label(lang, k) for k in ("asked", "answered", "response_rate")]
    columns += [label(lang, "satisfied", top=top), label(lang, "satisfaction")]
    lines = [label(lang, "title") + (f" — {period}" if period else ""), ""]
    for part in sections:
        table = [[part.head, *columns]]
        for row in (*part.rows, Row("", label(lang, "all"), part.total)):
            f = row.figures
            table.append(
                [row.name, str(f.asked), str(f.answered), row.response_rate, str(f.satisfied), row.satisfaction]
            )
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines.append(part.title)
        for r in table:
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip())
        lines.append("")
    if all(not part.rows for part in sections):
        lines.append(label(lang, "none"))
    lines.append(label(lang, "explain", top=top))
    return "\n".join(lines) + "\n"


def as_dict(sections: list[Section]) -> dict[str, Any]:
    def figures(f: Figures) -> dict[str, Any]:
        return {
            "asked": f.asked,
            "answered": f.answered,
            "satisfied": f.satisfied,
            "response_rate": f.response_rate,
            "satisfaction": f.satisfaction,
        }

    return {
        part.by: {
            "rows": [{"key": r.key, "name": r.name, **figures(r.figures)} for r in part.rows],
            "total": figures(part.total),
        }
        for part in sections
    }


__all__ = ["DIMENSIONS", "LABELS", "Row", "Section", "as_dict", "label", "render_text", "section", "top_boxes"]
