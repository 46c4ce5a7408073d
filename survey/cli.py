"""``hotline survey report``: caller satisfaction per topic, per agent and per interval.

    hotline survey report [--from D] [--to D] [--interval 15|30|60] [--lang ar|en] [--json] [--db URL]
                          [--profile PATH]

``--from``/``--to`` are days (``YYYY-MM-DD``, the profile's time zone; ``--to`` inclusive) or ISO times (``--to``
exclusive); without them, every response. The figures are computed by the database (``SurveyStore.figures``).

Wiring (in ``hotline/cli.py``): ``add_commands(subparsers)``; the command sets ``func(args, settings, out=None,
err=None) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from profiles.model import Profile, load_profile

__all__ = ["add_commands"]


def add_commands(subparsers: Any) -> None:
    survey = subparsers.add_parser("survey", help="the post-call survey: satisfaction per topic, agent, interval")
    commands = survey.add_subparsers(dest="survey_command", required=True)
    rep = commands.add_parser(
        "report", help="satisfaction (4 and 5 of 1..5) and response rate per topic, agent, interval"
    )
    rep.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD, profile time zone) or ISO time")
    rep.add_argument("--to", dest="date_to", help="last day, inclusive (YYYY-MM-DD) or ISO time (exclusive)")
    rep.add_argument("--interval", type=int, choices=(15, 30, 60), default=30, help="minutes (default 30)")
    rep.add_argument("--lang", choices=("ar", "en"), help="the report's language (default: the profile's)")
    rep.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    rep.add_argument("--db", help="database URL (default: the service's)")
    rep.add_argument("--profile", type=Path, help="the profile (default: the service's)")
    rep.set_defaults(func=report_command)


def moment(text: str | None, zone: ZoneInfo, *, end: bool, what: str) -> datetime | None:
    """A day (its start; with ``end``, the next day's start) or an ISO time (in ``zone`` when naive)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} must be a day YYYY-MM-DD or an ISO time, got {text!r}") from None
        return at if at.tzinfo else at.replace(tzinfo=zone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start + timedelta(days=1) if end else start


def report_command(
    args: argparse.Namespace, settings: Any, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return _report(args, settings, out, err)
    except (ValueError, OSError) as exc:  # a ProfileError is a ValueError
        print(f"hotline survey report: {exc}", file=err)
        return 2
    except SQLAlchemyError as exc:
        print(f"hotline survey report: the database failed: {exc.__class__.__name__}: {exc}", file=err)
        return 2


def _report(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from storage.engine import upgrade
    from survey.db import SurveyStore
    from survey.model import DIMENSIONS
    from survey.report import as_dict, first_max, render_text, section

    profile: Profile = load_profile(args.profile or settings.profile_path)
    max_score = first_max(profile)
    zone = ZoneInfo(profile.timezone)
    start = moment(args.date_from, zone, end=False, what="--from")
    end = moment(args.date_to, zone, end=True, what="--to")
    if start is not None and end is not None and end <= start:
        raise ValueError("--to must be after --from")
    lang = args.lang or (profile.default_language if profile.default_language in ("ar", "en") else "en")
    url = args.db or settings.db_url
    upgrade(url)

    async def compute() -> list[Any]:
        store = SurveyStore(url)
        try:
            return [
                section(profile, by, await store.figures(max_score, by, args.interval, start, end), lang, args.interval)
                for by in DIMENSIONS
            ]
        finally:
            await store.close()

    sections = asyncio.run(compute())
    if args.json:
        json.dump(as_dict(sections), out, ensure_ascii=False)
        out.write("\n")
    else:
        period = " – ".join(x.isoformat() for x in (start, end) if x is not None)
        out.write(render_text(profile, sections, lang, period))
    return 0
