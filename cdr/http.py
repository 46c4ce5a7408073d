"""Records' HTTP API: the staffing report of a day (offered, answered, service level, people needed against
present, per interval and per shift).

:func:`routes` describes the operation with its handler bound to the record store and the profile; the
host (the console's /api/v1) signs the request in. :func:`report_query` and :func:`staffing_report` are
what the answer (and the console's report page) is made of.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import Field

from cdr import reports
from cdr.db import RecordStore
from profiles.model import Profile
from restapi.http import Operation, error, query_param, reply
from restapi.models import Answer, Number, Timestamp

#: T of the service level in the console's figures and the staffing report: answered within 20 seconds.
SL_SECONDS = 20.0
INTERVALS = (15, 30, 60)  # minutes


# -- answers -----------------------------------------------------------------------------------------------


class ReportParams(Answer):
    interval_minutes: int
    sl_seconds: Number
    target_service_level: Number
    shrinkage: Number
    patience_seconds: Number | None
    model: Literal["erlang_a", "erlang_c"]
    timezone: str
    start: Timestamp | None
    end: Timestamp | None


class ShiftStaffing(Answer):
    shift: str
    intervals: int
    peak_needed: int
    mean_needed: Number
    seats_needed: int
    understaffed_intervals: int


class Interval(Answer):
    start: Timestamp
    offered: int
    answered: int
    service_level: Number | None
    needed: Number | None
    present: Number | None
    gap: Number | None


class StaffingReport(Answer):
    day: Annotated[str, Field(json_schema_extra={"format": "date"})]
    params: ReportParams
    totals: dict[str, Number | None]
    shifts: list[ShiftStaffing]
    intervals: list[Interval]


# -- the report --------------------------------------------------------------------------------------------


async def staffing_report(store: RecordStore, profile: Profile, day: date, interval: int) -> reports.Report:
    """The staffing report of ``day`` (in the profile's time zone), in intervals of ``interval`` minutes."""
    tz = ZoneInfo(profile.timezone)
    start = datetime.combine(day, clock_time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), clock_time(0), tz).astimezone(UTC)
    agg = await store.aggregates(interval, SL_SECONDS, start, end)
    params = reports.ReportParams(
        interval_minutes=interval, sl_seconds=SL_SECONDS, timezone=profile.timezone, start=start, end=end
    )
    return reports.build_report(agg, params, shifts=profile.shifts)


def report_query(request: web.Request, profile: Profile) -> tuple[date, int]:
    """``day`` (today by default) and ``interval`` (30 by default) of the query; 400 if either is wrong."""
    raw_day = request.query.get("day") or datetime.now(ZoneInfo(profile.timezone)).date().isoformat()
    raw_interval = request.query.get("interval", "30")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_day):
            raise ValueError
        day = date.fromisoformat(raw_day)
        if not 2000 <= day.year <= 2100:
            raise ValueError
    except ValueError:
        raise error(web.HTTPBadRequest, "day must be a date YYYY-MM-DD (2000-2100)") from None
    if raw_interval not in {str(i) for i in INTERVALS}:
        raise error(web.HTTPBadRequest, "interval must be 15, 30 or 60 (minutes)")
    return day, int(raw_interval)


# -- handler -----------------------------------------------------------------------------------------------


class _Handlers:
    def __init__(self, store: RecordStore, profile: Profile) -> None:
        self.store = store
        self.profile = profile

    async def report_api(self, request: web.Request) -> web.Response:
        day, interval = report_query(request, self.profile)
        data = reports.report_to_dict(await staffing_report(self.store, self.profile, day, interval))
        keep = ("start", "offered", "answered", "service_level", "needed", "present", "gap")
        return reply(StaffingReport, {
            "day": day.isoformat(), "params": data["params"], "totals": data["totals"], "shifts": data["shifts"],
            "intervals": [{k: row[k] for k in keep} for row in data["intervals"]],
        })  # fmt: skip


def routes(store: RecordStore, profile: Profile) -> tuple[Operation, ...]:
    """Records' operations, their handlers bound to ``store`` and ``profile``."""
    h = _Handlers(store, profile)
    return (
        Operation(
            "get",
            "/reports/staffing",
            "report_api",
            "a day's intervals: offered, answered, service level, people needed against present",
            h.report_api,
            answer=StaffingReport,
            errors=(400,),
            parameters=(
                query_param("day", {"type": "string", "format": "date"}),
                query_param("interval", {"type": "integer", "enum": list(INTERVALS)}),
            ),
        ),
    )
