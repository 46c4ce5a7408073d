"""The console's survey page (issue 13, item 1): caller satisfaction, for supervisors and viewers.

``GET /survey?day=YYYY-MM-DD&interval=15|30|60``: for one day in the hotline's time zone (today by default), the
share of satisfied answers to the first question (4 and 5 of 1..5) and the response rate (answered / asked), per
topic, per agent and per interval. A caller who did not answer counts as asked, never as a low score. The figures
are the database's (``survey.db.SurveyStore.figures``); the labels are Arabic (right to left) or English, in the
user's language (``survey.report.LABELS``). A bad day or interval shows the page with 400 and a message.

The page goes through ``Backend.survey`` (the service's :class:`~survey.db.SurveyStore`) and the profile's survey:
without either, 404 saying the hotline has no survey. Sign-in, roles and headers are the console's own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.base import backend_of, guard, render, user_of
from profiles.model import Profile
from survey.db import SurveyStore
from survey.model import ALLOWED_INTERVALS, DIMENSIONS, percent
from survey.report import first_max, label, section, top_boxes
from telephony.clock import utc_now

ROLES = frozenset({"supervisor", "viewer"})


def _store(request: web.Request) -> SurveyStore | None:
    backend = backend_of(request)
    if backend.profile.survey is None:
        return None
    return getattr(backend, "survey", None)


def _page(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    lang = user_of(request).language
    context.setdefault("sections", [])
    context.setdefault("message", "")
    context.setdefault("day", "")
    context.setdefault("interval", 30)
    context.setdefault("explain", "")
    context.setdefault("top", "")
    return render(
        request,
        "survey.html",
        status=status,
        sv=lambda key, **values: label(lang, key, **values),
        intervals=ALLOWED_INTERVALS,
        pct=percent,
        **context,
    )


def _refuse(request: web.Request, status: int) -> web.Response:
    """The page for a role it does not serve (403) or a hotline without a survey (404)."""
    message = label(user_of(request).language, "not_allowed" if status == 403 else "no_survey")
    return _page(request, status=status, message=message)


def _day(text: str | None, zone: ZoneInfo, lang: str) -> date:
    if not text:
        return utc_now().astimezone(zone).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(label(lang, "bad_day")) from None


async def survey_page(request: web.Request) -> web.Response:
    store = _store(request)
    assert store is not None
    profile: Profile = backend_of(request).profile
    lang = user_of(request).language
    zone = ZoneInfo(profile.timezone)
    max_score = first_max(profile)
    top = top_boxes(max_score)
    try:
        day = _day(request.query.get("day"), zone, lang)
        interval = int(request.query.get("interval", "30"))
        if interval not in ALLOWED_INTERVALS:
            raise ValueError(f"interval: {'/'.join(str(i) for i in ALLOWED_INTERVALS)}")
    except ValueError as exc:
        return _page(request, status=400, message=str(exc), top=top, explain=label(lang, "explain", top=top))
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = (start + timedelta(days=1, hours=3)).replace(hour=0)  # the next day's start, also across DST
    sections = [
        section(profile, by, await store.figures(max_score, by, interval, start, end), lang, interval)
        for by in DIMENSIONS
    ]
    return _page(
        request,
        sections=sections,
        day=day.isoformat(),
        interval=interval,
        top=top,
        explain=label(lang, "explain", top=top),
        empty=all(not s.rows for s in sections),
    )


def setup(app: web.Application, console: Any) -> None:
    """Mount the survey page on the console's app (the header links to it once mounted)."""
    app.router.add_get("/survey", guard(survey_page, roles=ROLES, needs=_store, refuse=_refuse))
