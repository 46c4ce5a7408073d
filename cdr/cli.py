"""``hotline`` sub-commands for call-record reports, staffing, synthetic data and imports.

    hotline report [--from D --to D] [--interval 15|30|60] [--csv PATH] [--html PATH] [--json]
    hotline staffing --calls C --interval-minutes M --aht S --service-level P/T [--shrinkage X]
                     [--erlang-a --patience S]
    hotline generate-records [--calls N] [--months 2021-01,2021-02]
    hotline import-records [--queue-log PATH] [--cdr-csv PATH] [--timezone TZ]
    hotline records check --from D [--to D] [--cdr-csv PATH]   (the store against Master.csv)

Wiring (in ``hotline/cli.py``): ``add_commands(subparsers)``, and ``add_records_actions`` under ``records``;
each command sets its ``func(args, settings, out=None, err=None) -> int`` (``set_defaults``), which the root
calls.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from cdr.staffing import (
    StaffingError,
    agents_needed,
    agents_needed_erlang_a,
    seats_after_shrinkage,
    traffic_erlangs,
)

__all__ = ["COMMANDS", "add_commands", "add_records_actions", "parse_service_level", "run"]

COMMANDS = ("report", "staffing", "generate-records", "import-records")


def parse_service_level(text: str) -> tuple[float, float]:
    """``80/20`` (or ``0.8/20``) -> (0.8, 20.0): share of calls answered within T seconds."""
    try:
        share_text, seconds_text = text.split("/")
        share, seconds = float(share_text.rstrip("%")), float(seconds_text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"service level must look like 80/20 (80 % within 20 s), got {text!r}"
        ) from None
    if share > 1:
        share /= 100
    if not 0 < share < 1 or seconds < 0:
        raise argparse.ArgumentTypeError(f"service level {text!r}: share must be in (0, 100) %, T >= 0 s")
    return share, seconds


def _fraction(text: str) -> float:
    value = float(text.rstrip("%"))
    return value / 100 if value >= 1 else value


Command = Callable[[argparse.Namespace, Any, TextIO, TextIO], int]


def _command(run: Command) -> Callable[..., int]:
    """``run`` as a command: ``func(args, settings, out=None, err=None)``; a bad input or file is
    told on ``err`` with exit code 2."""

    @functools.wraps(run)
    def command(args: argparse.Namespace, settings: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
        err = err or sys.stderr
        try:
            return run(args, settings, out or sys.stdout, err)
        except (StaffingError, ValueError, OSError) as exc:
            print(f"hotline {args.command}: {exc}", file=err)
            return 2

    return command


def add_commands(subparsers: Any) -> None:
    """Add ``report``, ``staffing``, ``generate-records`` and ``import-records`` to an argparse subparsers."""
    rep = subparsers.add_parser("report", help="call-record report: volumes, service level, staffing")
    rep.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD, profile time zone) or ISO time")
    rep.add_argument("--to", dest="date_to", help="last day, inclusive (YYYY-MM-DD) or ISO time (exclusive)")
    rep.add_argument("--interval", type=int, choices=(15, 30, 60), default=30, help="minutes (default 30)")
    rep.add_argument(
        "--service-level",
        type=parse_service_level,
        default=(0.8, 20.0),
        help="target P/T, e.g. 80/20 (default): P %% answered within T s",
    )
    rep.add_argument("--shrinkage", type=_fraction, default=0.3, help="share of paid time off the phones (0.3)")
    rep.add_argument("--present", type=Path, help="CSV interval_start,people (default: people answering calls)")
    rep.add_argument("--erlang-a", action="store_true", help="staff with Erlang A (abandonment) instead of C")
    rep.add_argument("--patience", type=float, default=120.0, help="Erlang A mean patience in seconds (120)")
    rep.add_argument("--csv", type=Path, help="write intervals to PATH and groups to PATH-groups.csv")
    rep.add_argument("--html", type=Path, help="write a self-contained HTML report with charts")
    rep.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    rep.add_argument("--progress", action="store_true", help="progress bar on stderr even when not a terminal")
    rep.set_defaults(func=_report)

    st = subparsers.add_parser("staffing", help="people needed for one interval (Erlang C or A)")
    st.add_argument("--calls", type=float, required=True, help="calls offered in the interval")
    st.add_argument("--interval-minutes", type=float, required=True)
    st.add_argument("--aht", type=float, required=True, help="average handle time, seconds")
    st.add_argument("--service-level", type=parse_service_level, required=True, help="P/T, e.g. 80/20")
    st.add_argument("--shrinkage", type=_fraction, default=0.0)
    st.add_argument("--erlang-a", action="store_true")
    st.add_argument("--patience", type=float, help="mean patience in seconds (with --erlang-a)")
    st.set_defaults(func=_staffing)

    gen = subparsers.add_parser("generate-records", help="write synthetic call records shaped like the 151 line")
    gen.add_argument("--calls", type=int, default=1_000_000, help="inbound calls in all (default 1,000,000)")
    gen.add_argument("--months", help="comma-separated YYYY-MM from 2020-03..2021-03 (default: all 13)")
    gen.add_argument("--seed", type=int, default=151)
    gen.add_argument("--progress", action="store_true", help="progress bar on stderr even when not a terminal")
    gen.set_defaults(func=_generate)

    imp = subparsers.add_parser("import-records", help="import Asterisk queue_log and/or Master.csv (idempotent)")
    imp.add_argument("--queue-log", type=Path)
    imp.add_argument("--cdr-csv", type=Path)
    imp.add_argument("--timezone", help="zone of local times in the files (default: the profile's)")
    imp.add_argument("--number", help="keep only CDR calls to this number (default: the profile's)")
    imp.set_defaults(func=_import)


def add_records_actions(actions: Any) -> None:
    """Add ``check`` to the subparsers of ``hotline records`` (whose plain form prints the latest records)."""
    check = actions.add_parser("check", help="compare the store with Master.csv for a time range; lists what differs")
    check.add_argument(
        "--from", dest="date_from", required=True, help="first day (YYYY-MM-DD, profile time zone) or ISO time"
    )
    check.add_argument(
        "--to", dest="date_to", help="last day, inclusive (YYYY-MM-DD) or ISO time (exclusive); default: now"
    )
    check.add_argument("--cdr-csv", type=Path, help="Master.csv (default: this instance's, written with usegmtime)")
    check.add_argument("--timezone", default="UTC", help="zone of the times in Master.csv (default UTC: usegmtime)")
    check.set_defaults(func=_records_check)


def run(args: argparse.Namespace, settings: Any, out: TextIO | None = None, err: TextIO | None = None) -> int | None:
    """Run ``args.func`` when ``args.command`` is one of ours (for tests and callers that embed
    these commands); None otherwise. Returns the exit code."""
    if getattr(args, "command", None) not in COMMANDS:
        return None
    return args.func(args, settings, out, err)


# -- commands -----------------------------------------------------------------------------------


@_command
def _staffing(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    share, seconds = args.service_level
    interval_s = args.interval_minutes * 60
    if args.erlang_a:
        if args.patience is None:
            raise StaffingError("--erlang-a needs --patience SECONDS (mean time callers wait before hanging up)")
        res = agents_needed_erlang_a(args.calls / interval_s, args.aht, args.patience, share, seconds)
        model = f"Erlang A, patience {args.patience:.0f}s"
    else:
        res = agents_needed(traffic_erlangs(args.calls, interval_s, args.aht), args.aht, share, seconds)
        model = "Erlang C"
    seats = seats_after_shrinkage(res.agents, args.shrinkage)
    print(f"traffic: {res.traffic:.2f} Erlangs ({model})", file=out)
    print(f"people needed: {res.agents}", file=out)
    print(f"service level: {res.service_level:.1%} within {seconds:.0f}s (target {share:.0%})", file=out)
    print(
        f"probability of waiting: {res.waiting_probability:.1%}; ASA {res.asa_seconds:.1f}s; "
        f"occupancy {res.occupancy:.1%}" + (f"; abandoned {res.abandon_probability:.1%}" if args.erlang_a else ""),
        file=out,
    )
    print(f"seats after {args.shrinkage:.0%} shrinkage: {seats}", file=out)
    return 0


def _profile(settings: Any, err: TextIO) -> Any:
    from profiles.model import ProfileError, load_profile

    try:
        return load_profile(Path(settings.profile_path))
    except (ProfileError, OSError) as exc:
        print(f"warning: profile not loaded ({exc}); using UTC and no shifts", file=err)
        return None


def _moment(text: str | None, tz: ZoneInfo, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start + timedelta(days=1) if end else start


def build_report_from_db(
    url: str,
    interval: int = 30,
    service_level: tuple[float, float] = (0.8, 20.0),
    shrinkage: float = 0.3,
    patience: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    timezone: str = "UTC",
    shifts: Any = (),
    present: dict[int, int] | None = None,
    progress: Any = None,
) -> Any:
    """SQL aggregation + report (what ``hotline report`` and the benchmark run), with the calls per
    request type (wrap-up codes) and each person's own talk (a transferred call's talk split between them)."""
    from cdr.db import aggregate_sql, people_figures_sql, wrapup_counts_sql
    from cdr.reports import ReportParams, build_report, person_rows, wrapup_rows

    share, seconds = service_level
    agg = aggregate_sql(url, interval, seconds, start, end)
    params = ReportParams(interval, seconds, share, shrinkage, patience, timezone, start, end)
    report = build_report(agg, params, present=present, shifts=shifts, progress=progress)
    report.wrapups = wrapup_rows(wrapup_counts_sql(url, start, end))
    report.people = person_rows(people_figures_sql(url, start, end))
    return report


@_command
def _report(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from cdr.report_output import Progress, render_text, write_csv, write_html
    from cdr.reports import parse_presence_csv, report_to_dict
    from storage.engine import upgrade

    profile = _profile(settings, err)
    tz_name = profile.timezone if profile is not None else "UTC"
    tz = ZoneInfo(tz_name)
    start = _moment(args.date_from, tz, end=False)
    end = _moment(args.date_to, tz, end=True)
    present = None
    if args.present is not None:
        with open(args.present, encoding="utf-8") as fh:
            present = parse_presence_csv(fh, args.interval)
    upgrade(settings.db_url)
    progress = Progress("report", stream=err, force=args.progress)
    report = build_report_from_db(
        settings.db_url,
        args.interval,
        args.service_level,
        args.shrinkage,
        args.patience if args.erlang_a else None,
        start,
        end,
        tz_name,
        profile.shifts if profile is not None else (),
        present,
        progress,
    )
    if args.csv:
        paths = write_csv(report, args.csv)
        print(f"wrote {paths[0]} and {paths[1]}", file=err)
    if args.html:
        print(f"wrote {write_html(report, args.html)}", file=err)
    if args.json:
        json.dump(report_to_dict(report), out, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_text(report))
    return 0


@_command
def _generate(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from cdr.importer import bulk_insert
    from cdr.report_output import Progress
    from cdr.synthetic import generate_rows
    from storage.engine import upgrade

    months = [m.strip() for m in args.months.split(",") if m.strip()] if args.months else None
    upgrade(settings.db_url)
    progress = Progress("generating", stream=err, force=args.progress)
    added = bulk_insert(settings.db_url, generate_rows(args.calls, months, args.seed, progress=progress))
    print(f"added {added:,} records to {_safe(settings.db_url)}", file=out)
    return 0


@_command
def _import(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from cdr.importer import import_files
    from storage.engine import upgrade

    if args.queue_log is None and args.cdr_csv is None:
        raise ValueError("give --queue-log PATH and/or --cdr-csv PATH")
    profile = _profile(settings, err) if args.timezone is None or args.number is None else None
    timezone = args.timezone or (profile.timezone if profile is not None else "UTC")
    number = args.number or (profile.number if profile is not None else None)
    upgrade(settings.db_url)
    read, added = import_files(settings.db_url, args.queue_log, args.cdr_csv, timezone, number)
    print(f"read {read:,} calls, added {added:,} new records", file=out)
    return 0


@_command
def _records_check(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    """Exit 0 when the store and Master.csv agree for the range, 1 when something differs (listed)."""
    from cdr.check import compare
    from cdr.db import RecordStore
    from cdr.importer import calls_from_cdr_csv
    from telephony.clock import utc_now

    profile = _profile(settings, err)
    if profile is None:
        raise ValueError("the check needs the profile (its number and time zone)")
    tz = ZoneInfo(profile.timezone)
    start = _moment(args.date_from, tz, end=False)
    end = _moment(args.date_to, tz, end=True) or utc_now()
    assert start is not None
    path = args.cdr_csv or _instance_cdr_csv(settings)
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            cdr_calls = calls_from_cdr_csv(fh, args.timezone, profile.number)
    except OSError as exc:
        raise ValueError(f"cannot read the CDR file {path}: {exc.strerror or exc}") from None

    async def stored() -> list[Any]:
        async with RecordStore(settings.db_url) as store:
            return await store.list_records(start=start, end=end)

    result = compare(asyncio.run(stored()), cdr_calls, start, end)
    print(f"{start.isoformat()} .. {end.isoformat()}: {result.compared} calls in both, "
          f"{len(result.missing)} missing from the store, {len(result.unknown)} not in Master.csv, "
          f"{len(result.different)} differences", file=out)  # fmt: skip
    for key in result.missing:
        call = cdr_calls[key]
        print(f"missing  {key}  {call['started_at'].isoformat()}  {call['caller_number'] or '-'}", file=out)
    for key in result.unknown:
        print(f"unknown  {key}", file=out)
    for diff in result.different:
        print(f"differs  {diff.linkedid}  {diff.field}: store {diff.store!r}, Master.csv {diff.cdr!r}", file=out)
    return 0 if result.ok else 1


def _instance_cdr_csv(settings: Any) -> Path:
    """This instance's Master.csv (inside its sid root), without building a root that is not there."""
    from telephony.provision import current_root

    root = current_root(settings.cache_dir)
    if root is None:
        raise ValueError("no Asterisk root here: give --cdr-csv PATH")
    return root / "hotline" / settings.instance / "log" / "cdr-csv" / "Master.csv"


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
