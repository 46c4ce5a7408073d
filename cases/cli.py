"""``hotline cases`` sub-commands: the case report and synthetic cases.

    hotline cases report [--from D] [--to D] [--html FILE] [--lang ar|en] [--json] [--db URL] [--profile PATH]
    hotline cases synthetic [--profile PATH] [--db URL] [--seed N] [--year YYYY]

``--from``/``--to`` are days (``YYYY-MM-DD``, the profile's time zone; ``--to`` inclusive) or ISO times
(``--to`` exclusive); the report counts the cases opened in that period (see ``cases/reports.py``).
``--db`` defaults to the service's database (``HOTLINE_DB_URL``), ``--profile`` to the service's profile
(the report) or the packaged municipal 940 profile (the synthetic year, shaped like its article).

Wiring (in ``hotline/cli.py``): ``add_commands(subparsers)``; each command sets its
``func(args, settings, out=None, err=None) -> int``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from profiles.model import Profile, load_profile
from telephony.clock import utc_now

__all__ = ["add_commands"]

MUNICIPAL_940 = Path(str(resources.files("profiles") / "municipal-940.yaml"))

Command = Callable[[argparse.Namespace, Any, TextIO, TextIO], int]


def _command(run: Command) -> Callable[..., int]:
    """``run`` as a command: bad input, a file or a database that fails is told on ``err``, exit code 2."""

    @functools.wraps(run)
    def command(args: argparse.Namespace, settings: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
        err = err or sys.stderr
        try:
            return run(args, settings, out or sys.stdout, err)
        except (ValueError, OSError) as exc:  # a ProfileError is a ValueError
            print(f"hotline cases {args.cases_command}: {exc}", file=err)
            return 2
        except SQLAlchemyError as exc:
            print(f"hotline cases {args.cases_command}: the database failed: {exc.__class__.__name__}: {exc}", file=err)
            return 2

    return command


def add_commands(subparsers: Any) -> None:
    """Add ``cases report`` and ``cases synthetic`` to an argparse subparsers."""
    cases = subparsers.add_parser("cases", help="cases: the report per category, synthetic cases")
    commands = cases.add_subparsers(dest="cases_command", required=True)
    rep = commands.add_parser("report", help="per category: opened, closed, closure rate, median time to close")
    rep.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD, profile time zone) or ISO time")
    rep.add_argument("--to", dest="date_to", help="last day, inclusive (YYYY-MM-DD) or ISO time (exclusive)")
    rep.add_argument("--html", type=Path, help="write a self-contained HTML report with a chart to FILE")
    rep.add_argument("--lang", choices=("ar", "en"), help="the report's language (default: the profile's)")
    rep.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    rep.add_argument("--now", help="count overdue cases as of this ISO time (default: now)")
    rep.add_argument("--db", help="database URL (default: the service's)")
    rep.add_argument("--profile", type=Path, help="the profile (default: the service's)")
    rep.set_defaults(func=_report)
    syn = commands.add_parser("synthetic", help="store a year of synthetic cases shaped like the 940 article")
    syn.add_argument("--profile", type=Path, help="a profile with the six 940 categories (default: municipal-940)")
    syn.add_argument("--db", help="database URL (default: the service's); its cases table must be empty")
    syn.add_argument("--seed", type=int, default=940)
    syn.add_argument("--year", type=int, default=2025, help="the year, in the profile's time zone (default 2025)")
    syn.set_defaults(func=_synthetic)


def _moment(text: str | None, tz: ZoneInfo, *, end: bool, what: str) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} must be a day YYYY-MM-DD or an ISO time, got {text!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start + timedelta(days=1) if end else start


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@_command
def _report(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from cases.report_db import case_report_sql
    from cases.report_output import LANGUAGES, render_text, write_html
    from cases.reports import check_period, report_to_dict
    from storage.engine import upgrade

    profile: Profile = load_profile(args.profile or settings.profile_path)
    tz = ZoneInfo(profile.timezone)
    start = _moment(args.date_from, tz, end=False, what="--from")
    end = _moment(args.date_to, tz, end=True, what="--to")
    now = _moment(args.now, tz, end=False, what="--now") or utc_now()
    language = args.lang or (profile.default_language if profile.default_language in LANGUAGES else "en")
    check_period(start, end, now)
    url = args.db or settings.db_url
    upgrade(url)
    began = time.perf_counter()
    report = case_report_sql(url, now=now, start=start, end=end, categories=[t.id for t in profile.topics])
    took = time.perf_counter() - began
    if args.html:
        print(f"wrote {write_html(report, args.html, profile, language)}", file=err)
    if args.json:
        json.dump({**report_to_dict(report), "seconds": round(took, 3)}, out, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_text(report, profile, language))
        print(f"computed by the database in {took:.3f}s", file=err)
    return 0


@_command
def _synthetic(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from cases.synthetic import generate_cases, insert_cases
    from storage.engine import upgrade

    profile = load_profile(args.profile or MUNICIPAL_940)
    if not 1970 <= args.year <= 9998:
        raise ValueError(f"--year must be a year like 2025, got {args.year}")
    start = datetime(args.year, 1, 1, tzinfo=ZoneInfo(profile.timezone))
    rows = generate_cases(profile, seed=args.seed, start=start)
    url = args.db or settings.db_url
    upgrade(url)
    began = time.perf_counter()
    added = insert_cases(url, rows)
    print(
        f"added {added:,} synthetic cases ({args.year}) to {_safe(url)} in {time.perf_counter() - began:.1f}s", file=out
    )
    return 0
