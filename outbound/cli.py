"""``hotline campaign`` and ``hotline dnc``: contact lists and the do-not-call list, straight in the database.

    hotline campaign import --list NAME FILE [--db URL] [--profile PATH]
    hotline campaign lists [--db URL]
    hotline dnc add NUMBER --reason TEXT [--db URL]
    hotline dnc remove NUMBER [--db URL] [--profile PATH]
    hotline dnc list [--db URL] [--profile PATH]

``import`` prints what the file did to the list (rows, added, updated, removed, the rows on the do-not-call
list), or every bad row as ``line N: reason`` (and imports nothing) with exit code 1. The running service needs
no telling: the campaigns read the lists and the do-not-call list from the database when they dial. ``--db``
defaults to the service's database (``HOTLINE_DB_URL``), ``--profile`` to the service's profile.

Wiring (in ``hotline/cli.py``): ``add_commands(subparsers)``; each command sets its
``func(args, settings, out=None, err=None) -> int``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from outbound.lists import MAX_FILE_BYTES, ImportRefused
from profiles.model import Profile, load_profile
from telephony.clock import utc_now

__all__ = ["BY", "add_commands"]

#: Who the database names for what these commands do.
BY = "cli"

Command = Callable[[argparse.Namespace, Any, TextIO, TextIO], int]


def _command(name: str) -> Callable[[Command], Callable[..., int]]:
    """``run`` as a command: bad input, a file or a database that fails is told on ``err``, exit code 2."""

    def wrap(run: Command) -> Callable[..., int]:
        @functools.wraps(run)
        def command(
            args: argparse.Namespace, settings: Any, out: TextIO | None = None, err: TextIO | None = None
        ) -> int:
            err = err or sys.stderr
            try:
                return run(args, settings, out or sys.stdout, err)
            except (ValueError, OSError) as exc:  # a ProfileError is a ValueError
                print(f"hotline {name}: {exc}", file=err)
                return 2
            except SQLAlchemyError as exc:
                print(f"hotline {name}: the database failed: {exc.__class__.__name__}: {exc}", file=err)
                return 2

        return command

    return wrap


def add_commands(subparsers: Any) -> None:
    """Add ``campaign import|lists`` and ``dnc add|remove|list`` to an argparse subparsers."""
    campaign = subparsers.add_parser("campaign", help="outbound campaigns: the contact lists they call")
    campaigns = campaign.add_subparsers(dest="campaign_command", required=True)
    imp = campaigns.add_parser("import", help="make a contact list hold the people of a CSV file (all or nothing)")
    imp.add_argument("--list", dest="list_name", required=True, help="the list's name (a campaign's 'list')")
    imp.add_argument("file", type=Path, help="CSV UTF-8: number, name, language, ward or district, other columns")
    _common(imp, profile=True)
    imp.set_defaults(func=_import)
    lists = campaigns.add_parser("lists", help="the contact lists and how many people each holds")
    _common(lists, profile=False)
    lists.set_defaults(func=_lists)

    dnc = subparsers.add_parser("dnc", help="the do-not-call list of outbound calls")
    dncs = dnc.add_subparsers(dest="dnc_command", required=True)
    add = dncs.add_parser("add", help="never call a number out (campaigns, the desk)")
    add.add_argument("number")
    add.add_argument("--reason", required=True)
    _common(add, profile=False)
    add.set_defaults(func=_dnc_add)
    remove = dncs.add_parser("remove", help="take a number off the do-not-call list")
    remove.add_argument("number")
    _common(remove, profile=True)
    remove.set_defaults(func=_dnc_remove)
    listing = dncs.add_parser("list", help="the numbers never called: the profile's and those added")
    _common(listing, profile=True)
    listing.set_defaults(func=_dnc_list)


def _common(parser: argparse.ArgumentParser, *, profile: bool) -> None:
    parser.add_argument("--db", help="database URL (default: the service's)")
    if profile:
        parser.add_argument("--profile", type=Path, help="the profile (default: the service's)")


def _profile(args: argparse.Namespace, settings: Any) -> Profile:
    return load_profile(args.profile or settings.profile_path)


def _run(args: argparse.Namespace, settings: Any, work: Callable[[Any], Any]) -> Any:
    """``work(store)`` on the database, migrated first."""
    from outbound.list_db import ListStore
    from storage.engine import upgrade

    url = args.db or settings.db_url
    upgrade(url)

    async def go() -> Any:
        async with ListStore(url) as store:
            return await work(store)

    return asyncio.run(go())


def _read(path: Path) -> bytes:
    """The file, read up to one byte past the cap (the parser names the cap)."""
    with path.open("rb") as file:
        return file.read(MAX_FILE_BYTES + 1)


@_command("campaign import")
def _import(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    profile = _profile(args, settings)
    data = _read(args.file)
    try:
        result = _run(
            args,
            settings,
            lambda store: store.import_csv(
                args.list_name, data, filename=args.file.name, by=BY, profile=profile, now=utc_now()
            ),
        )
    except ImportRefused as refused:
        rows = len({e.line for e in refused.errors})
        print(f"{args.file}: refused, nothing imported ({rows} bad {'row' if rows == 1 else 'rows'}):", file=err)
        for error in refused.errors:
            print(str(error), file=err)
        return 1
    if result.unchanged:
        print(f"{args.list_name}: unchanged, this file is already imported ({result.rows} rows)", file=out)
    else:
        print(
            f"{args.list_name}: {result.rows} rows, {result.added} added, {result.updated} updated, "
            f"{result.removed} removed",
            file=out,
        )
    if result.dnc:
        print(f"{result.dnc} on the do-not-call list: imported, never called", file=out)
    return 0


@_command("campaign lists")
def _lists(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    found = _run(args, settings, lambda store: store.lists())
    if not found:
        print("no contact lists (hotline campaign import --list NAME FILE)", file=out)
    for item in found:
        print(f"{item.name:<24} {item.contacts:>7} people   updated {item.updated_at:%Y-%m-%d %H:%M} UTC", file=out)
    return 0


@_command("dnc add")
def _dnc_add(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    entry = _run(args, settings, lambda store: store.add_dnc(args.number, args.reason, by=BY, now=utc_now()))
    print(
        f"{entry.number}: on the do-not-call list since {entry.added_at:%Y-%m-%d %H:%M} UTC "
        f"({entry.reason}; by {entry.added_by})",
        file=out,
    )
    return 0


@_command("dnc remove")
def _dnc_remove(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    from outbound.lists import dnc_key

    if _run(args, settings, lambda store: store.remove_dnc(args.number)):
        print(f"{args.number}: off the do-not-call list", file=out)
        return 0
    profile = _profile(args, settings)
    listed = profile.outbound.do_not_call if profile.outbound else ()
    if dnc_key(args.number) in {dnc_key(n) for n in listed}:
        print(f"hotline dnc remove: {args.number} is in the profile's outbound.do_not_call: change it there", file=err)
    else:
        print(f"hotline dnc remove: {args.number} is not on the do-not-call list", file=err)
    return 1


@_command("dnc list")
def _dnc_list(args: argparse.Namespace, settings: Any, out: TextIO, err: TextIO) -> int:
    profile = _profile(args, settings)
    entries = _run(args, settings, lambda store: store.dnc())
    for number in profile.outbound.do_not_call if profile.outbound else ():
        print(f"{number:<18} the profile", file=out)
    for entry in entries:
        print(f"{entry.number:<18} {entry.added_at:%Y-%m-%d %H:%M} UTC  {entry.added_by:<12} {entry.reason}", file=out)
    return 0
