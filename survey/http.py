"""The survey's HTTP API under /api/v1 (the console mounts it): the satisfaction figures, for every signed-in user.

``GET /survey/figures?by=topic|agent|interval&from=&to=&interval=15|30|60&lang=ar|en``: one row per topic, agent
or interval with asked, answered, satisfied (the top boxes of the first question: 4 and 5 of 1..5), the response
rate (answered / asked) and the satisfaction (satisfied / answered; null without an answer). ``from``/``to`` are
days (``YYYY-MM-DD``, the hotline's time zone; ``to`` inclusive) or ISO times (``to`` exclusive). Bad input answers
400 with a message; a hotline without a survey answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from profiles.model import Profile
from restapi.http import Operation, error, query_param, reply
from restapi.models import Answer
from survey.cli import moment
from survey.db import SurveyStore
from survey.model import ALLOWED_INTERVALS, DIMENSIONS, Dimension
from survey.report import first_max, section

OFF = "this hotline has no survey"


class FigureOut(Answer):
    key: str  # a topic id, a person id ("-": none) or an interval's start (ISO 8601, UTC)
    name: str  # the topic's label, the person's name, the interval's start in the hotline's time zone
    asked: int
    answered: int
    satisfied: int
    response_rate: float | None
    satisfaction: float | None


class _Handlers:
    def __init__(self, store: SurveyStore, profile: Profile) -> None:
        self.store = store
        self.profile = profile

    async def figures(self, request: web.Request) -> web.Response:
        query = request.query
        by = query.get("by", "topic")
        if by not in DIMENSIONS:
            raise error(web.HTTPBadRequest, f"by must be one of {', '.join(DIMENSIONS)}")
        lang = query.get("lang", self.profile.default_language)
        if lang not in self.profile.language_codes:
            raise error(web.HTTPBadRequest, f"lang must be one of {', '.join(self.profile.language_codes)}")
        zone = ZoneInfo(self.profile.timezone)
        try:
            interval = int(query.get("interval", "30"))
            if interval not in ALLOWED_INTERVALS:
                raise ValueError
        except ValueError:
            raise error(web.HTTPBadRequest, "interval must be 15, 30 or 60 (minutes)") from None
        try:
            start = moment(query.get("from"), zone, end=False, what="from")
            end = moment(query.get("to"), zone, end=True, what="to")
        except (ValueError, OverflowError) as exc:
            raise error(
                web.HTTPBadRequest, str(exc) if isinstance(exc, ValueError) else "from/to out of range"
            ) from None
        if start is not None and end is not None and end <= start:
            raise error(web.HTTPBadRequest, "to must be after from")
        dimension: Dimension = by
        groups = await self.store.figures(first_max(self.profile), dimension, interval, start, end)
        part = section(self.profile, dimension, groups, lang, interval)
        rows: list[dict[str, Any]] = [
            {
                "key": datetime.fromtimestamp(int(r.key), UTC).isoformat() if by == "interval" else str(r.key),
                "name": r.name,
                "asked": r.figures.asked,
                "answered": r.figures.answered,
                "satisfied": r.figures.satisfied,
                "response_rate": r.figures.response_rate,
                "satisfaction": r.figures.satisfaction,
            }
            for r in part.rows
        ]
        return reply(list[FigureOut], rows)


async def _off(_request: web.Request) -> web.Response:
    raise error(web.HTTPNotFound, OFF)


def routes(store: SurveyStore | None, profile: Profile) -> tuple[Operation, ...]:
    """The survey's operations, bound to ``store`` (None, or a profile without a survey: each answers 404)."""
    handler = _Handlers(store, profile).figures if store is not None and profile.survey is not None else _off
    return (
        Operation(
            "get",
            "/survey/figures",
            "survey_figures",
            "caller satisfaction (4 and 5 of 1..5 among the answers to the first question) and response rate, per "
            "topic, agent or interval",
            handler,
            answer=list[FigureOut],
            errors=(400, 404),
            parameters=(
                query_param("by", {"type": "string", "enum": list(DIMENSIONS)}),
                query_param("from", {"type": "string", "maxLength": 40}, "a day YYYY-MM-DD or an ISO time"),
                query_param("to", {"type": "string", "maxLength": 40}, "a day (inclusive) or an ISO time"),
                query_param("interval", {"type": "integer", "enum": list(ALLOWED_INTERVALS)}),
                query_param("lang", {"type": "string", "maxLength": 8}),
            ),
        ),
    )
