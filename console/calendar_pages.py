"""The console's calendar page (issue 13, item 3): special days, for supervisors (viewers read).

* ``GET /calendar``: the special days added here that are in force or ahead (dates, hours, topics, who
  added them), and the profile's own holidays (read only: they change with the profile);
* ``POST /calendar/add`` (date, optional until, name, hours such as ``10:00-14:00, 18:00-24:00`` (empty:
  closed all day), topics (none: every topic)) and ``POST /calendar/remove`` (id): plain HTML forms. Bad input
  (a date that is not one, until before date, closing before opening, an unknown topic) shows the page again
  with 400 and the message, and changes nothing. Each change goes to the console's audit log
  (``calendar.add``, ``calendar.remove``).

The IVR sees a change at once in this service (the store's cache is dropped on each change) and within 5 s
in another service on the same database (see ivr/calendar_db.py). The page goes through
:class:`ivr.calendar_db.Calendar` (``Backend.calendar``; none on a backend: 404). Sign-in, CSRF and roles are
the console's own, applied as for the case pages (a viewer's POST is refused before the handler).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.base import backend_of, guard, render, user_of
from ivr.calendar_db import MAX_NAME, Calendar, CalendarError, special_day
from profiles.model import SpecialDay
from restapi.http import ACTOR
from telephony.clock import utc_now

ROLES = frozenset({"supervisor", "viewer"})

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Calendar",
        "added": "Special days",
        "profile": "Holidays of the profile",
        "date": "Date",
        "until": "Until (optional)",
        "name": "Name",
        "hours": "Hours",
        "hours_hint": "e.g. 10:00-14:00, 18:00-24:00; empty: closed all day",
        "topics": "Topics",
        "topics_hint": "none ticked: every topic",
        "every_topic": "every topic",
        "closed": "closed all day",
        "by": "Added by",
        "add": "Add a special day",
        "save": "Add",
        "remove": "Remove",
        "none": "None.",
        "saved": "Saved.",
        "refused": "Not saved:",
        "not_allowed": "This page is for supervisors and viewers.",
        "off": "The calendar is not running on this service.",
        "bad_hours": "hours: write each as HH:MM-HH:MM, separated by commas",
        "bad_id": "no such special day",
    },
    "ar": {
        "title": "التقويم",
        "added": "الأيام الخاصة",
        "profile": "عطلات الملف",
        "date": "التاريخ",
        "until": "حتى (اختياري)",
        "name": "الاسم",
        "hours": "الساعات",
        "hours_hint": "مثل 10:00-14:00، 18:00-24:00؛ فارغ: مغلق طوال اليوم",
        "topics": "الخدمات",
        "topics_hint": "بلا اختيار: كل الخدمات",
        "every_topic": "كل الخدمات",
        "closed": "مغلق طوال اليوم",
        "by": "أضافه",
        "add": "إضافة يوم خاص",
        "save": "إضافة",
        "remove": "حذف",
        "none": "لا شيء.",
        "saved": "تم الحفظ.",
        "refused": "لم يُحفظ:",
        "not_allowed": "هذه الصفحة للمشرفين والمشاهدين.",
        "off": "التقويم غير مفعّل في هذه الخدمة.",
        "bad_hours": "الساعات: اكتب كلاً منها بالشكل HH:MM-HH:MM مفصولة بفواصل",
        "bad_id": "لا يوجد هذا اليوم الخاص",
    },
    "hi": {
        "title": "कैलेंडर",
        "added": "विशेष दिन",
        "profile": "प्रोफ़ाइल की छुट्टियाँ",
        "date": "तारीख",
        "until": "तक (वैकल्पिक)",
        "name": "नाम",
        "hours": "समय",
        "hours_hint": "जैसे 10:00-14:00, 18:00-24:00; खाली: पूरा दिन बंद",
        "topics": "विषय",
        "topics_hint": "कोई नहीं चुना: हर विषय",
        "every_topic": "हर विषय",
        "closed": "पूरा दिन बंद",
        "by": "किसने जोड़ा",
        "add": "विशेष दिन जोड़ें",
        "save": "जोड़ें",
        "remove": "हटाएँ",
        "none": "कोई नहीं।",
        "saved": "सहेजा गया।",
        "refused": "सहेजा नहीं गया:",
        "not_allowed": "यह पेज पर्यवेक्षकों और दर्शकों के लिए है।",
        "off": "इस सेवा में कैलेंडर नहीं चल रहा है।",
        "bad_hours": "समय: हर एक को HH:MM-HH:MM के रूप में लिखें, अल्पविराम से अलग करें",
        "bad_id": "ऐसा कोई विशेष दिन नहीं",
    },
}


def label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["en"]).get(key) or LABELS["en"].get(key, key)


def _calendar(request: web.Request) -> Calendar | None:
    return getattr(backend_of(request), "calendar", None)


def _refuse(request: web.Request, status: int) -> web.Response:
    """The page for a role it does not serve (403) or a service without the calendar (404)."""
    message = label(user_of(request).language, "not_allowed" if status == 403 else "off")
    return _page(request, status=status, message=message, bad=True, empty=True)


def _page(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    lang = user_of(request).language
    for key, default in (("days", []), ("holidays", []), ("topics", []), ("form", {}), ("message", "")):
        context.setdefault(key, default)
    context.setdefault("bad", False)
    context.setdefault("empty", False)
    return render(
        request, "calendar.html", status=status, ct=lambda key: label(lang, key), max_name=MAX_NAME, **context
    )


def _hours_text(day: SpecialDay, lang: str) -> str:
    if not day.hours:
        return label(lang, "closed")
    clock = lambda t: "24:00" if t is None else t.strftime("%H:%M")  # noqa: E731
    return ", ".join(f"{clock(h.open)}-{clock(h.close)}" for h in day.hours)


def _row(day: SpecialDay, lang: str, topic_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "date": day.date.isoformat(),
        "until": day.until.isoformat() if day.until else "",
        "name": day.name or "",
        "hours": _hours_text(day, lang),
        "topics": ", ".join(topic_labels.get(t, t) for t in day.topics) or label(lang, "every_topic"),
    }


async def _show(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    calendar = _calendar(request)
    assert calendar is not None
    lang = user_of(request).language
    profile = calendar.profile
    topic_labels = {t.id: t.label.get(lang) or next(iter(t.label.values()), t.id) for t in profile.topics}
    today = utc_now().astimezone(ZoneInfo(profile.timezone)).date()
    days = [
        {**_row(d.day, lang, topic_labels), "id": d.id, "by": d.created_by}
        for d in await calendar.listed(since=today - timedelta(days=1))
    ]
    holidays = [_row(h, lang, topic_labels) for h in profile.holidays if (h.until or h.date) >= today]
    topics = [{"id": t, "label": text} for t, text in topic_labels.items()]
    return _page(request, status=status, days=days, holidays=holidays, topics=topics, **context)


async def calendar_page(request: web.Request) -> web.Response:
    lang = user_of(request).language
    return await _show(request, message=label(lang, "saved") if request.query.get("saved") else "")


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _hours(text: str, lang: str) -> list[tuple[str, str]]:
    hours = []
    for part in (p.strip() for p in text.replace("،", ",").split(",")):
        if not part:
            continue
        opens, dash, closes = part.partition("-")
        if not dash or not opens.strip() or not closes.strip():
            raise CalendarError(label(lang, "bad_hours"))
        hours.append((opens.strip(), closes.strip()))
    return hours


async def add_form(request: web.Request) -> web.Response:
    calendar = _calendar(request)
    assert calendar is not None
    lang = user_of(request).language
    form = await request.post()
    typed = {k: _field(form, k) for k in ("date", "until", "name", "hours")}
    topics = [t for t in form.getall("topics", []) if isinstance(t, str)]
    actor = request[ACTOR]
    try:
        day = special_day(calendar.profile, typed["date"], typed["until"] or None, typed["name"] or None,
                          _hours(typed["hours"], lang), topics)  # fmt: skip
    except CalendarError as exc:
        typed["topics"] = topics  # type: ignore[assignment]
        return await _show(request, status=400, message=f"{label(lang, 'refused')} {exc}", bad=True, form=typed)
    stored = await calendar.add(day, actor.name)
    await actor.audit("calendar.add", f"special_day:{stored.id}", _details(day))
    raise web.HTTPSeeOther("/calendar?saved=1")


def _details(day: SpecialDay) -> dict[str, Any]:
    clock = lambda t: "24:00" if t is None else t.strftime("%H:%M")  # noqa: E731
    return {
        "date": day.date.isoformat(),
        "until": day.until.isoformat() if day.until else None,
        "name": day.name,
        "hours": [[clock(h.open), clock(h.close)] for h in day.hours],
        "topics": list(day.topics),
    }


async def remove_form(request: web.Request) -> web.Response:
    calendar = _calendar(request)
    assert calendar is not None
    lang = user_of(request).language
    form = await request.post()
    raw = _field(form, "id")
    actor = request[ACTOR]
    removed = await calendar.remove(int(raw), actor.name) if raw.isdigit() and len(raw) < 12 else None
    if removed is None:
        return await _show(request, status=400, message=f"{label(lang, 'refused')} {label(lang, 'bad_id')}", bad=True)
    await actor.audit("calendar.remove", f"special_day:{removed.id}", _details(removed.day))
    raise web.HTTPSeeOther("/calendar?saved=1")


def setup(app: web.Application, console: Any) -> None:
    """Mount the calendar page on the console's app."""
    r = app.router
    page = functools.partial(guard, roles=ROLES, needs=_calendar, refuse=_refuse)
    r.add_get("/calendar", page(calendar_page))
    r.add_post("/calendar/add", page(add_form))
    r.add_post("/calendar/remove", page(remove_form))
